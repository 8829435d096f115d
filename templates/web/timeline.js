// The conference timeline, played in step with its recordings: a click (or Enter on a bar)
// seeks the recording that covers that moment, and a playhead follows whichever is playing.
// Served from /static/ so the Content-Security-Policy can keep forbidding inline script.
(function () {
  "use strict";
  const svg = document.querySelector("svg.timeline");
  if (!svg) return;
  const start = Number(svg.dataset.startMs);
  const end = Number(svg.dataset.endMs);
  const playhead = svg.querySelector(".playhead");
  const detail = document.getElementById("timeline-detail");
  const audios = Array.from(document.querySelectorAll("audio[data-start-ms]"));

  const percent = (ms) => (Math.min(Math.max((ms - start) / (end - start), 0), 1) * 100).toFixed(3) + "%";
  const startOf = (audio) => Number(audio.dataset.startMs);
  const covers = (audio, ms) =>
    ms >= startOf(audio) && (!audio.duration || ms <= startOf(audio) + audio.duration * 1000);

  function draw(audio) {
    const x = percent(startOf(audio) + audio.currentTime * 1000);
    playhead.setAttribute("x1", x);
    playhead.setAttribute("x2", x);
    playhead.classList.add("shown");
  }

  // The recording that covers `ms`, else the one that starts soonest after it, else the first.
  function recordingAt(ms) {
    return audios.find((a) => covers(a, ms))
      || audios.filter((a) => startOf(a) > ms).sort((a, b) => startOf(a) - startOf(b))[0]
      || audios[0];
  }

  function seek(ms) {
    const audio = recordingAt(ms);
    if (!audio) return;
    audios.forEach((other) => { if (other !== audio) other.pause(); });
    audio.currentTime = Math.max(0, (ms - startOf(audio)) / 1000);
    draw(audio);
    audio.play().catch(() => {});
  }

  if (audios.length > 0) {
    svg.classList.add("seekable");
    svg.addEventListener("click", (event) => {
      const box = svg.getBoundingClientRect();
      seek(start + ((event.clientX - box.left) / box.width) * (end - start));
    });
    svg.querySelectorAll("[data-seek-ms]").forEach((bar) => {
      bar.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          seek(Number(bar.dataset.seekMs));
        }
      });
    });
  }

  svg.querySelectorAll(".bar").forEach((bar) => {
    const show = () => { detail.textContent = bar.getAttribute("aria-label"); };
    bar.addEventListener("focus", show);
    bar.addEventListener("mouseenter", show);
  });

  audios.forEach((audio) => {
    audio.addEventListener("timeupdate", () => draw(audio));
    audio.addEventListener("seeked", () => draw(audio));
    audio.addEventListener("play", () => {
      audios.forEach((other) => { if (other !== audio) other.pause(); });
    });
  });
  // timeupdate comes about four times a second; a frame loop while playing makes it glide.
  function frame() {
    const playing = audios.find((a) => !a.paused);
    if (playing) draw(playing);
    requestAnimationFrame(frame);
  }
  requestAnimationFrame(frame);
})();
