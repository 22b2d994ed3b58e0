//! Append-only segment files: each round is one frame appended to the
//! current segment (its new entries and its acknowledgements, the
//! tombstones), then one `fdatasync`. A segment is deleted once none of its
//! entries is live and every other segment its tombstones name has gone
//! (`liveness`); the folder is synced after each deletion, so a tombstone
//! never goes before the entry it buries, even on power loss.
//!
//! Frame: `u32` body length, `u64` xxh3 of the body, the body (`u64` round
//! number, then `codec`'s appends and acks blocks). A frame cut short or
//! failing its checksum at the end of the last segment is a write the
//! crash interrupted: it was never acknowledged as durable, so it is cut
//! off. Anywhere else it is corruption, and opening fails.
//!
//! Which segment holds each live entry, each segment's live count and the
//! segments each one's tombstones name are kept in memory and rebuilt on
//! open by replaying every segment.
//!
//! **Compaction.** A few long-lived entries (a session offline, or slow)
//! would keep their segments. So once a segment (not the current one) has
//! at most a tenth of its entries
//! live, those are copied, bytes and all, into a frame of the current
//! segment, synced, and the old segment can go. Replay takes the
//! later copy of an entry as where it lives, so a crash between the copy
//! and the deletion loses nothing and counts nothing twice.

use std::{
    fs::{File, OpenOptions},
    io::Write,
    path::{Path, PathBuf},
};

use super::{
    codec::{encode_acks, encode_appends, encode_stored, Reader},
    liveness::Liveness,
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
    /// Segments are the homes of entries and the tombstone records.
    index: Liveness,
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

/// The frame bodies of one segment, and where its valid part ends.
struct Scanned<'a> {
    bodies: Vec<&'a [u8]>,
    valid_len: u64,
    torn: bool,
}

fn scan(bytes: &[u8]) -> Scanned<'_> {
    let mut bodies = Vec::new();
    let mut at = 0usize;
    let mut torn = false;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let body = rest.get(..HEADER).and_then(|header| {
            let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
            let sum = u64::from_le_bytes(header[4..].try_into().expect("8 bytes"));
            let body = rest.get(HEADER..HEADER + len)?;
            (xxhash_rust::xxh3::xxh3_64(body) == sum).then_some(body)
        });
        let Some(body) = body else {
            torn = true;
            break;
        };
        bodies.push(body);
        at += HEADER + body.len();
    }
    Scanned {
        bodies,
        valid_len: at as u64,
        torn,
    }
}

/// A frame body: the round number, then an appends and an acks block.
fn frame_body(body: &[u8]) -> Result<(Reader<'_>, u64), EngineError> {
    let mut reader = Reader::new(body);
    let round = reader.u64()?;
    Ok((reader, round))
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
        let mut index = Liveness::together();
        let mut last_len = 0;
        for (i, &id) in ids.iter().enumerate() {
            let path = segment_path(dir, id);
            let bytes = std::fs::read(&path)?;
            let scanned = scan(&bytes);
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
            index.add_home(id);
            for body in scanned.bodies {
                let (mut reader, _) = frame_body(body)?;
                // A later copy (compaction) is where an entry lives.
                index.append(id, reader.appends()?);
                index.ack(id, &reader.acks()?);
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
            index.add_home(current_id);
        }
        let live = index.live_entries();
        let mut log = SegmentLog {
            dir: dir.to_path_buf(),
            limit,
            current,
            current_id,
            current_len: last_len,
            index,
            frame: Vec::new(),
        };
        log.delete_finished()?;
        Ok((log, live))
    }

    /// Delete every segment but the current one that holds no live entry
    /// and whose tombstones name no segment left, each deletion synced
    /// before the next (one may free another's tombstones).
    fn delete_finished(&mut self) -> Result<(), EngineError> {
        loop {
            let finished: Vec<u64> = self
                .index
                .homes()
                .filter(|&(id, live)| {
                    live == 0 && id != self.current_id && !self.index.is_needed_as_tombstones(id)
                })
                .map(|(id, _)| id)
                .collect();
            if finished.is_empty() {
                return Ok(());
            }
            for id in finished {
                std::fs::remove_file(segment_path(&self.dir, id))?;
                sync_dir(&self.dir)?;
                self.index.drop_home(id);
                self.index.drop_tombstones(id);
            }
        }
    }

    /// Append the frame in `self.frame` (header space first) and sync it.
    fn append_frame(&mut self) -> Result<(), EngineError> {
        let frame = &mut self.frame;
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
        Ok(())
    }

    /// Copy what is still needed of one old segment (not the current one)
    /// into the current one, so it can go: the few live entries of a
    /// sparse segment, or the tombstones of one kept only for them.
    fn compact(&mut self, round: u64) -> Result<(), EngineError> {
        let newest = self.current_id - 1;
        let Some(&victim) = self
            .index
            .sparse(newest, 1)
            .first()
            .or(self.index.only_tombstones(newest, 1).first())
        else {
            return Ok(());
        };
        let bytes = std::fs::read(segment_path(&self.dir, victim))?;
        self.frame.clear();
        self.frame.extend_from_slice(&[0; HEADER]);
        self.frame.extend_from_slice(&round.to_le_bytes());
        let mut survivors = Vec::new();
        if self.index.live(victim) > 0 {
            for body in scan(&bytes).bodies {
                let (mut reader, _) = frame_body(body)?;
                survivors.extend(reader.survivors(|key| self.index.home_of(key) == Some(victim))?);
            }
        }
        encode_stored(&survivors, &mut self.frame);
        encode_acks(&self.index.needed_tombstones(victim), &mut self.frame);
        self.append_frame()?;
        let moved = survivors.iter().flat_map(|m| {
            m.entries
                .iter()
                .map(|&(client, _)| EntryKey { client, seq: m.seq })
        });
        self.index.append(self.current_id, moved);
        self.index.move_tombstones(victim, self.current_id);
        self.delete_finished()
    }

    fn rotate(&mut self) -> Result<(), EngineError> {
        self.current_id += 1;
        self.current = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(segment_path(&self.dir, self.current_id))?;
        sync_dir(&self.dir)?;
        self.current_len = 0;
        self.index.add_home(self.current_id);
        Ok(())
    }
}

impl Engine for SegmentLog {
    fn commit(&mut self, round: &Round) -> Result<(), EngineError> {
        self.frame.clear();
        self.frame.extend_from_slice(&[0; HEADER]);
        self.frame.extend_from_slice(&round.number.to_le_bytes());
        encode_appends(&round.messages, &mut self.frame);
        encode_acks(&round.acks, &mut self.frame);
        self.append_frame()?;

        let id = self.current_id;
        self.index
            .append(id, round.messages.iter().flat_map(|m| m.entries()));
        self.index.ack(id, &round.acks);
        self.delete_finished()?;
        self.compact(round.number)
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
    fn finished_segments_are_deleted() {
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
    fn a_few_long_lived_entries_are_copied_forward_and_do_not_pin_segments() {
        let dir = temp("compact");
        let (mut log, _) = SegmentLog::open_with(&dir, 8192).unwrap();
        let keep = |seq: u64| seq % 50 == 0;
        for r in 1..=200u64 {
            let first = (r - 1) * 20 + 1;
            let messages = (first..first + 20)
                .map(|seq| crate::store_engines::workload::NewMessage { seq, sessions: 1 })
                .collect();
            let acks = if r > 4 {
                let old = (r - 5) * 20 + 1;
                (old..old + 20)
                    .filter(|&seq| !keep(seq))
                    .map(|seq| EntryKey { client: 0, seq })
                    .collect()
            } else {
                vec![]
            };
            log.commit(&Round {
                number: r,
                messages,
                acks,
            })
            .unwrap();
        }
        // ~200 frames of ~2.4 kB: ~60 segments of 8 kB written. What stays
        // is bounded by the 10 % rule: the 80 survivors (~8 kB) in
        // segments at least a tenth live, ~100 kB, plus the newest few.
        let bytes = crate::store_engines::measure::dir_bytes(&dir).unwrap();
        assert!(
            bytes <= 140_000,
            "{bytes} bytes in {} segments",
            segments(&dir)
        );
        drop(log);
        let (_, mut live) = SegmentLog::open_with(&dir, 8192).unwrap();
        live.sort_unstable();
        // Round r acknowledges round r - 4's entries: the last 4 rounds' are all live.
        let seqs: Vec<u64> = live.iter().map(|e| e.seq).collect();
        let expected: Vec<u64> = (1..=200 * 20)
            .filter(|&s| keep(s) || s > 196 * 20)
            .collect();
        assert_eq!(seqs, expected);
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
