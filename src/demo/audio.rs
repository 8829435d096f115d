//! Stand-in recordings for the demo: short WAV files of a few tones, made in memory so the
//! binary carries no media files.

/// A 16-bit mono PCM WAV of `notes` (frequency in Hz, length in seconds) at 8 kHz, the rate of
/// telephone audio.
pub fn tones(notes: &[(f64, f64)]) -> Vec<u8> {
    const RATE: u32 = 8_000;
    let mut samples: Vec<i16> = Vec::new();
    for &(frequency, seconds) in notes {
        let count = (seconds * f64::from(RATE)) as usize;
        for i in 0..count {
            let t = i as f64 / f64::from(RATE);
            // A short fade at both ends keeps the notes from clicking.
            let fade = (t / 0.02).min((seconds - t) / 0.02).clamp(0.0, 1.0);
            let value = (2.0 * std::f64::consts::PI * frequency * t).sin() * fade * 0.3;
            samples.push((value * f64::from(i16::MAX)) as i16);
        }
    }
    let data_len = (samples.len() * 2) as u32;
    let mut wav = Vec::with_capacity(44 + data_len as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&RATE.to_le_bytes());
    wav.extend_from_slice(&(RATE * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for sample in samples {
        wav.extend_from_slice(&sample.to_le_bytes());
    }
    wav
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tones_are_a_wav_file_that_the_archive_accepts() {
        let wav = tones(&[(440.0, 0.5), (660.0, 0.25)]);

        assert_eq!(wav.len(), 44 + 6_000 * 2);
        assert_eq!(
            crate::vobiz::sniff::detect(&wav),
            Some(crate::vobiz::sniff::AudioFormat::Wav)
        );
    }
}
