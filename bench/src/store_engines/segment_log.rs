//! Append-only segment files: each round is one frame appended to the
//! current segment (its new entries and its acknowledgements, the
//! tombstones), then one `fdatasync`. A segment is deleted once it is the
//! oldest and none of its entries is live. Deleting oldest first means a
//! tombstone never goes before the entry it buries: a tombstone only names
//! entries in its own segment or older ones.
//!
//! Frame: `u32` body length, `u64` xxh3 of the body, the body (`u64` round
//! number, then `codec`'s appends and acks blocks). A frame cut short or
//! failing its checksum at the end of the last segment is a write the
//! crash interrupted: it was never acknowledged as durable, so it is cut
//! off. Anywhere else it is corruption, and opening fails.
//!
//! Which segment holds each live entry, and each segment's live count, are
//! kept in memory and rebuilt on open by replaying every segment.
//!
//! Not done here (it would be for Kite): a session that stays offline pins
//! the oldest segment and everything after it; the fix is to copy the few
//! live entries of an old segment to the head and delete it.

use std::{
    collections::{BTreeMap, HashMap},
    fs::{File, OpenOptions},
    io::Write,
    path::{Path, PathBuf},
};

use super::{
    codec::{encode_acks, encode_appends, Reader},
    workload::{EntryKey, Round},
    Engine, EngineError,
};

/// A new segment is started once the current one would pass this.
pub const SEGMENT_BYTES: u64 = 64 << 20;

const HEADER: usize = 4 + 8;

pub struct SegmentLog {
    dir: PathBuf,
    limit: u64,
    /// The segment written to, its number and length.
    current: File,
    current_id: u64,
    current_len: u64,
    /// The segment holding each live entry.
    segment_of: HashMap<EntryKey, u64>,
    /// Every segment on disk with its live entries, oldest first.
    live_in: BTreeMap<u64, u64>,
    frame: Vec<u8>,
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:010}.seg"))
}

/// `fsync` the folder: a segment's creation or deletion is then durable.
fn sync_dir(dir: &Path) -> Result<(), EngineError> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// The frames of one segment, and where its valid part ends.
struct Scanned {
    frames: Vec<(Vec<EntryKey>, Vec<EntryKey>)>,
    valid_len: u64,
    torn: bool,
}

fn scan(bytes: &[u8]) -> Result<Scanned, EngineError> {
    let mut frames = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let torn = Scanned {
            frames: Vec::new(),
            valid_len: at as u64,
            torn: true,
        };
        if rest.len() < HEADER {
            return Ok(Scanned { frames, ..torn });
        }
        let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        let sum = u64::from_le_bytes(rest[4..12].try_into().expect("8 bytes"));
        let Some(body) = rest.get(HEADER..HEADER + len) else {
            return Ok(Scanned { frames, ..torn });
        };
        if xxhash_rust::xxh3::xxh3_64(body) != sum {
            return Ok(Scanned { frames, ..torn });
        }
        let mut reader = Reader::new(body);
        reader.u64()?; // the round number: for a reader of the file, not needed here
        frames.push((reader.appends()?, reader.acks()?));
        at += HEADER + len;
    }
    Ok(Scanned {
        frames,
        valid_len: at as u64,
        torn: false,
    })
}

impl SegmentLog {
    pub fn open(dir: &Path) -> Result<(SegmentLog, Vec<EntryKey>), EngineError> {
        SegmentLog::open_with(dir, SEGMENT_BYTES)
    }

    /// [`SegmentLog::open`] with segments of `limit` bytes (small ones in tests).
    pub fn open_with(dir: &Path, limit: u64) -> Result<(SegmentLog, Vec<EntryKey>), EngineError> {
        let mut ids: Vec<u64> = std::fs::read_dir(dir)?
            .filter_map(|entry| {
                let name = entry.ok()?.file_name();
                name.to_str()?.strip_suffix(".seg")?.parse().ok()
            })
            .collect();
        ids.sort_unstable();
        let mut segment_of = HashMap::new();
        let mut live_in = BTreeMap::new();
        let mut last_len = 0;
        for (i, &id) in ids.iter().enumerate() {
            let path = segment_path(dir, id);
            let scanned = scan(&std::fs::read(&path)?)?;
            if scanned.torn {
                if i + 1 != ids.len() {
                    return Err(EngineError::Corrupt(format!(
                        "{} has a bad frame at byte {} and is not the last segment",
                        path.display(),
                        scanned.valid_len
                    )));
                }
                // The round being written when the process died: cut it off.
                let file = OpenOptions::new().write(true).open(&path)?;
                file.set_len(scanned.valid_len)?;
                file.sync_all()?;
            }
            live_in.insert(id, 0);
            for (appends, acks) in scanned.frames {
                for key in appends {
                    segment_of.insert(key, id);
                    *live_in.get_mut(&id).expect("inserted") += 1;
                }
                for key in acks {
                    if let Some(home) = segment_of.remove(&key) {
                        *live_in.get_mut(&home).expect("replayed") -= 1;
                    }
                }
            }
            last_len = scanned.valid_len;
        }
        let current_id = ids.last().copied().unwrap_or(1);
        let current = OpenOptions::new()
            .create(true)
            .append(true)
            .open(segment_path(dir, current_id))?;
        if ids.is_empty() {
            sync_dir(dir)?;
            live_in.insert(current_id, 0);
        }
        let live = segment_of.keys().copied().collect();
        let mut log = SegmentLog {
            dir: dir.to_path_buf(),
            limit,
            current,
            current_id,
            current_len: last_len,
            segment_of,
            live_in,
            frame: Vec::new(),
        };
        log.delete_finished()?;
        Ok((log, live))
    }

    /// Delete the oldest segments while none of their entries is live.
    fn delete_finished(&mut self) -> Result<(), EngineError> {
        while let Some((&id, &live)) = self.live_in.first_key_value() {
            if live > 0 || id == self.current_id {
                break;
            }
            std::fs::remove_file(segment_path(&self.dir, id))?;
            // Durable before the next deletion: a later segment's tombstones
            // may bury entries of this one.
            sync_dir(&self.dir)?;
            self.live_in.remove(&id);
        }
        Ok(())
    }

    fn rotate(&mut self) -> Result<(), EngineError> {
        self.current_id += 1;
        self.current = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(segment_path(&self.dir, self.current_id))?;
        sync_dir(&self.dir)?;
        self.current_len = 0;
        self.live_in.insert(self.current_id, 0);
        Ok(())
    }
}

impl Engine for SegmentLog {
    fn commit(&mut self, round: &Round) -> Result<(), EngineError> {
        let frame = &mut self.frame;
        frame.clear();
        frame.extend_from_slice(&[0; HEADER]);
        frame.extend_from_slice(&round.number.to_le_bytes());
        encode_appends(&round.messages, frame);
        encode_acks(&round.acks, frame);
        let len = (frame.len() - HEADER) as u32;
        let sum = xxhash_rust::xxh3::xxh3_64(&frame[HEADER..]);
        frame[..4].copy_from_slice(&len.to_le_bytes());
        frame[4..HEADER].copy_from_slice(&sum.to_le_bytes());
        if self.current_len > 0 && self.current_len + self.frame.len() as u64 > self.limit {
            self.rotate()?;
        }
        self.current.write_all(&self.frame)?;
        self.current.sync_data()?;
        self.current_len += self.frame.len() as u64;

        let id = self.current_id;
        let mut appended = 0;
        for key in round.messages.iter().flat_map(|m| m.entries()) {
            self.segment_of.insert(key, id);
            appended += 1;
        }
        *self.live_in.get_mut(&id).expect("current") += appended;
        for key in &round.acks {
            if let Some(home) = self.segment_of.remove(key) {
                *self.live_in.get_mut(&home).expect("on disk") -= 1;
            }
        }
        self.delete_finished()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store_engines::workload::Generator;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kite-segments-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn segments(dir: &Path) -> usize {
        std::fs::read_dir(dir).unwrap().count()
    }

    /// Run `rounds` rounds 2 ms apart; the entries left unacknowledged.
    fn run(
        dir: &Path,
        limit: u64,
        generator: &mut Generator,
        rounds: std::ops::Range<u64>,
    ) -> Vec<EntryKey> {
        let (mut log, mut expected) = SegmentLog::open_with(dir, limit).unwrap();
        let mut expected: std::collections::BTreeSet<_> = expected.drain(..).collect();
        for r in rounds {
            let round = generator.round(r * 2_000, 3);
            expected.extend(round.messages.iter().flat_map(|m| m.entries()));
            for key in &round.acks {
                expected.remove(key);
            }
            log.commit(&round).unwrap();
        }
        expected.into_iter().collect()
    }

    #[test]
    fn reopening_replays_to_exactly_the_unacknowledged_entries() {
        let dir = temp("replay");
        let mut generator = Generator::new(2, 5);
        let expected = run(&dir, 4096, &mut generator, 0..60);
        let mut live = SegmentLog::open_with(&dir, 4096).unwrap().1;
        live.sort_unstable();
        assert_eq!(live, expected);
        // And again after more rounds on the reopened log.
        let expected = run(&dir, 4096, &mut generator, 60..120);
        let mut live = SegmentLog::open_with(&dir, 4096).unwrap().1;
        live.sort_unstable();
        assert_eq!(live, expected);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn finished_segments_are_deleted_oldest_first() {
        let dir = temp("delete");
        let mut generator = Generator::new(1, 3);
        run(&dir, 2048, &mut generator, 0..200);
        // 200 rounds of ~350 bytes: ~35 segments written, and only those
        // holding the last 40 ms (20 rounds) of entries can be left.
        assert!(segments(&dir) <= 6, "{} segments", segments(&dir));
        // Everything acknowledged: all but the current segment go.
        let (mut log, _) = SegmentLog::open_with(&dir, 2048).unwrap();
        let rest = generator.round(10_000_000, 0);
        log.commit(&rest).unwrap();
        assert_eq!(segments(&dir), 1);
        drop(log);
        assert!(SegmentLog::open_with(&dir, 2048).unwrap().1.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_torn_last_frame_is_cut_off_and_the_log_goes_on() {
        let dir = temp("torn");
        let mut generator = Generator::new(1, 11);
        let expected = run(&dir, SEGMENT_BYTES, &mut generator, 0..5);
        let path = segment_path(&dir, 1);
        let good = std::fs::metadata(&path).unwrap().len();
        // Half a frame, as a kill in the middle of write(2) would leave.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
            .unwrap();
        drop(file);
        let (_, mut live) = SegmentLog::open_with(&dir, SEGMENT_BYTES).unwrap();
        live.sort_unstable();
        assert_eq!(live, expected);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), good);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_bad_frame_before_the_last_segment_is_corruption() {
        let dir = temp("corrupt");
        let mut generator = Generator::new(1, 13);
        // Rounds 1 µs apart acknowledge nothing: every segment stays.
        let (mut log, _) = SegmentLog::open_with(&dir, 512).unwrap();
        for r in 0..10u64 {
            log.commit(&generator.round(r, 3)).unwrap(); // acks only after 15 ms
        }
        drop(log);
        assert!(segments(&dir) > 2);
        let first = segment_path(&dir, 1);
        let mut bytes = std::fs::read(&first).unwrap();
        bytes[HEADER + 9] ^= 0xff;
        std::fs::write(&first, bytes).unwrap();
        assert!(matches!(
            SegmentLog::open_with(&dir, 512),
            Err(EngineError::Corrupt(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
