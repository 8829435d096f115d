//! A recording's length read from its own headers, for when neither the callback nor the REST
//! API said: WAV from its format chunk and data size, MP3 by walking its frames (which also
//! covers VBR files, with or without a Xing/VBRI header).

use std::path::Path;
use std::time::Duration;

use super::sniff::AudioFormat;

/// The length of the file at `path`, or `None` when its headers do not tell. Blocking: reads
/// the file (an MP3 whole, frame header by frame header).
pub fn length(path: &Path, format: AudioFormat) -> Option<Duration> {
    match format {
        AudioFormat::Wav => {
            let reader = hound::WavReader::open(path).ok()?;
            let rate = reader.spec().sample_rate;
            (rate > 0)
                .then(|| Duration::from_secs_f64(f64::from(reader.duration()) / f64::from(rate)))
        }
        AudioFormat::Mp3 => mp3_duration::from_path(path).ok().filter(|d| !d.is_zero()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/fixtures")
            .join(name)
    }

    #[test]
    fn the_fixtures_know_their_length() {
        for (name, format) in [
            ("standup.mp3", AudioFormat::Mp3),
            ("standup-noid3.mp3", AudioFormat::Mp3),
            ("standup-stereo8k.wav", AudioFormat::Wav),
        ] {
            let seconds = length(&fixture(name), format).unwrap().as_secs_f64();
            // The same few seconds of speech, in three encodings.
            assert!((8.0..12.0).contains(&seconds), "{name}: {seconds} s");
        }
    }

    #[test]
    fn an_error_page_has_no_length() {
        assert_eq!(length(&fixture("error-page.html"), AudioFormat::Mp3), None);
        assert_eq!(length(&fixture("error-page.html"), AudioFormat::Wav), None);
    }
}
