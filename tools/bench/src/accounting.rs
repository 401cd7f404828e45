//! Loss, duplicate and reordering accounting.
//!
//! Every message carries (publisher, seq). Each consumer connection keeps, per queue it reads
//! and per publisher, the set of sequence numbers it received ([`QueueLog`]); at the end the
//! logs of one queue are merged and compared with what was published (or confirmed) and routed
//! to that queue ([`verify`]).
//!
//! - lost: expected on the queue, never received;
//! - duplicated: received more than once (also across two consumers of one queue);
//! - reordered: received after a higher sequence number of the same publisher; counted only
//!   where the broker promises order (a queue with a single consumer, nothing requeued);
//! - unexpected: not ours, never published, or not routed to that queue.

/// A growable bit set of sequence numbers.
#[derive(Debug, Default, Clone)]
pub struct SeqSet {
    words: Vec<u64>,
    count: u64,
}

impl SeqSet {
    /// Adds `seq`; false if it was there already.
    pub fn insert(&mut self, seq: u64) -> bool {
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if word >= self.words.len() {
            self.words.resize((word + 1).next_power_of_two(), 0);
        }
        let mask = 1u64 << bit;
        let fresh = self.words[word] & mask == 0;
        self.words[word] |= mask;
        self.count += u64::from(fresh);
        fresh
    }

    pub fn contains(&self, seq: u64) -> bool {
        self.words
            .get((seq / 64) as usize)
            .is_some_and(|w| w & (1 << (seq % 64)) != 0)
    }

    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &word)| {
            let base = i as u64 * 64;
            let mut w = word;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let bit = u64::from(w.trailing_zeros());
                w &= w - 1;
                Some(base + bit)
            })
        })
    }

    /// Adds every member of `other`; returns how many were already here.
    pub fn union(&mut self, other: &SeqSet) -> u64 {
        if self.words.len() < other.words.len() {
            self.words.resize(other.words.len(), 0);
        }
        let mut overlap = 0;
        for (mine, theirs) in self.words.iter_mut().zip(&other.words) {
            overlap += u64::from((*mine & theirs).count_ones());
            *mine |= theirs;
        }
        self.count = self.count + other.count - overlap;
        overlap
    }
}

/// What one consumer connection received from one publisher on one queue.
#[derive(Debug, Default, Clone)]
pub struct Stream {
    pub seen: SeqSet,
    highest: Option<u64>,
    pub received: u64,
    pub duplicates: u64,
    pub reordered: u64,
}

impl Stream {
    fn record(&mut self, seq: u64) -> bool {
        self.received += 1;
        if !self.seen.insert(seq) {
            self.duplicates += 1;
            return false;
        }
        match self.highest {
            Some(highest) if seq < highest => self.reordered += 1,
            _ => self.highest = Some(seq),
        }
        true
    }
}

/// What one consumer connection received on one queue.
#[derive(Debug, Clone)]
pub struct QueueLog {
    pub streams: Vec<Stream>,
    /// Deliveries that were not ours: an unreadable body, an unknown publisher, or a sequence
    /// number beyond any that could have been published.
    pub foreign: u64,
    /// Deliveries whose routing key matches none of the queue's bindings (`bindings`).
    pub misrouted: u64,
    max_seq: u64,
}

impl QueueLog {
    /// A log for `publishers` publishers that publish at most `max_seq` messages each.
    pub fn new(publishers: usize, max_seq: u64) -> QueueLog {
        QueueLog {
            streams: vec![Stream::default(); publishers],
            foreign: 0,
            misrouted: 0,
            max_seq,
        }
    }

    /// Records a delivery; true the first time this message arrives here.
    pub fn record(&mut self, publisher: u32, seq: u64) -> bool {
        match self.streams.get_mut(publisher as usize) {
            Some(stream) if seq < self.max_seq => stream.record(seq),
            _ => {
                self.foreign += 1;
                false
            }
        }
    }

    pub fn received(&self) -> u64 {
        self.streams.iter().map(|s| s.received).sum::<u64>() + self.foreign
    }

    /// Folds another consumer's log of the same queue into this one.
    pub fn merge(&mut self, other: &QueueLog) {
        self.foreign += other.foreign;
        self.misrouted += other.misrouted;
        for (mine, theirs) in self.streams.iter_mut().zip(&other.streams) {
            let overlap = mine.seen.union(&theirs.seen);
            mine.received += theirs.received;
            mine.duplicates += theirs.duplicates + overlap;
            mine.reordered += theirs.reordered;
        }
    }
}

/// What a publisher got out: how many it published, and, in confirm mode, which the broker
/// confirmed.
#[derive(Debug, Clone, Default)]
pub struct Published {
    pub count: u64,
    pub confirmed: Option<SeqSet>,
}

impl Published {
    /// Whether the broker owes this message's delivery: published, and confirmed if confirms
    /// are on.
    pub fn owed(&self, seq: u64) -> bool {
        seq < self.count
            && match &self.confirmed {
                Some(confirmed) => confirmed.contains(seq),
                None => true,
            }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub expected: u64,
    pub delivered: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub unexpected: u64,
    pub misrouted: u64,
}

impl Verdict {
    pub fn add(&mut self, other: Verdict) {
        self.expected += other.expected;
        self.delivered += other.delivered;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.reordered += other.reordered;
        self.unexpected += other.unexpected;
        self.misrouted += other.misrouted;
    }
}

/// Which messages go to a queue: message `seq` is published with key `seq % nkeys`, and the
/// queue receives the keys listed in `keys`.
#[derive(Debug, Clone)]
pub struct Route {
    pub nkeys: u64,
    pub keys: Vec<u64>,
}

impl Route {
    /// Every message (one key, or all keys routed here).
    pub fn all(nkeys: u64) -> Route {
        Route {
            nkeys,
            keys: (0..nkeys).collect(),
        }
    }
}

/// Compares a queue's merged log with what the publishers owe it. `ordered`: whether the
/// broker promises per-publisher order on it. The work is proportional to the messages owed
/// to the queue and the messages it received, not to all messages published.
pub fn verify(log: &QueueLog, published: &[Published], route: &Route, ordered: bool) -> Verdict {
    let mut routed = vec![false; route.nkeys as usize];
    for &k in &route.keys {
        if let Some(r) = routed.get_mut(k as usize) {
            *r = true;
        }
    }
    let is_routed = |seq: u64| routed.get((seq % route.nkeys.max(1)) as usize) == Some(&true);
    let mut v = Verdict {
        delivered: log.received(),
        unexpected: log.foreign,
        misrouted: log.misrouted,
        ..Verdict::default()
    };
    for (publisher, stream) in published.iter().zip(&log.streams) {
        for &k in &route.keys {
            let step = route.nkeys.max(1) as usize;
            for seq in (k..publisher.count).step_by(step) {
                if publisher.owed(seq) {
                    v.expected += 1;
                    v.lost += u64::from(!stream.seen.contains(seq));
                }
            }
        }
        // Published but unconfirmed messages may arrive; anything else is unexpected.
        v.unexpected += stream
            .seen
            .iter()
            .filter(|&s| s >= publisher.count || !is_routed(s))
            .count() as u64;
        v.duplicated += stream.duplicates;
        if ordered {
            v.reordered += stream.reordered;
        }
    }
    v
}

/// Publisher confirms of one channel: delivery tag `n` is the message with sequence number
/// `n - 1`. Settled means acked or nacked.
#[derive(Debug, Default)]
pub struct Confirms {
    pub confirmed: SeqSet,
    settled: SeqSet,
    /// Every sequence number below this one is settled.
    floor: u64,
    pub nacked: u64,
}

impl Confirms {
    /// `basic.ack` (`nack` false) or `basic.nack` for `tag`, `multiple` or not. Tags beyond
    /// `published` are ignored.
    pub fn settle(&mut self, tag: u64, multiple: bool, nack: bool, published: u64) {
        if tag == 0 || tag > published {
            return;
        }
        let seq = tag - 1;
        let first = if multiple { self.floor } else { seq };
        for s in first..=seq {
            if self.settled.insert(s) {
                if nack {
                    self.nacked += 1;
                } else {
                    self.confirmed.insert(s);
                }
            }
        }
        while self.settled.contains(self.floor) {
            self.floor += 1;
        }
    }

    pub fn settled(&self) -> u64 {
        self.settled.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn published(count: u64) -> Published {
        Published {
            count,
            confirmed: None,
        }
    }

    #[test]
    fn seq_set_basics() {
        let mut s = SeqSet::default();
        assert!(s.insert(3));
        assert!(!s.insert(3));
        assert!(s.insert(1000));
        assert!(s.contains(3) && s.contains(1000) && !s.contains(4));
        assert_eq!(s.len(), 2);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![3, 1000]);
        let mut t = SeqSet::default();
        t.insert(3);
        t.insert(5);
        assert_eq!(s.union(&t), 1);
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn a_clean_stream_passes() {
        let mut log = QueueLog::new(2, 100);
        for seq in 0..10 {
            log.record(0, seq);
            log.record(1, seq);
        }
        let v = verify(&log, &[published(10), published(10)], &Route::all(1), true);
        assert_eq!(
            v,
            Verdict {
                expected: 20,
                delivered: 20,
                ..Verdict::default()
            }
        );
    }

    #[test]
    fn loss_duplicates_and_reordering_are_counted() {
        let mut log = QueueLog::new(1, 100);
        for seq in [0, 1, 3, 2, 2, 5] {
            log.record(0, seq);
        }
        // 4 never came; 2 came twice; 2 came after 3.
        let v = verify(&log, &[published(6)], &Route::all(1), true);
        assert_eq!((v.lost, v.duplicated, v.reordered), (1, 1, 1));
        assert_eq!((v.expected, v.delivered, v.unexpected), (6, 6, 0));
        // Order is not promised with several consumers on one queue.
        assert_eq!(
            verify(&log, &[published(6)], &Route::all(1), false).reordered,
            0
        );
    }

    #[test]
    fn foreign_and_unrouted_deliveries_are_unexpected() {
        let mut log = QueueLog::new(1, 100);
        log.record(0, 0);
        log.record(0, 1);
        log.record(5, 0); // unknown publisher
        log.record(0, 500); // beyond max_seq
        log.record(0, 7); // never published
        let even = Route {
            nkeys: 2,
            keys: vec![0],
        };
        let v = verify(&log, &[published(4)], &even, true);
        // Owed here: 0 and 2; 2 is lost; 1 was not routed here; 7 was never published.
        assert_eq!((v.expected, v.lost), (2, 1));
        assert_eq!(v.unexpected, 2 + 2);
    }

    #[test]
    fn confirms_decide_what_is_owed() {
        let mut confirmed = SeqSet::default();
        confirmed.insert(0);
        confirmed.insert(1);
        let p = Published {
            count: 3,
            confirmed: Some(confirmed),
        };
        assert!(p.owed(1) && !p.owed(2));
        let mut log = QueueLog::new(1, 100);
        log.record(0, 0);
        log.record(0, 1);
        // 2 was published and not confirmed: not owed, and not unexpected if it comes.
        let v = verify(&log, std::slice::from_ref(&p), &Route::all(1), true);
        assert_eq!((v.expected, v.lost, v.unexpected), (2, 0, 0));
        log.record(0, 2);
        assert_eq!(verify(&log, &[p], &Route::all(1), true).unexpected, 0);
    }

    #[test]
    fn confirms_single_multiple_and_nacks() {
        let mut c = Confirms::default();
        c.settle(2, false, false, 10);
        c.settle(4, true, false, 10); // 1, 3, 4 (2 already)
        c.settle(5, false, true, 10);
        c.settle(50, true, false, 10); // beyond what was published: ignored
        assert_eq!(c.settled(), 5);
        assert_eq!(c.confirmed.len(), 4);
        assert_eq!(c.nacked, 1);
        assert!(c.confirmed.contains(0) && !c.confirmed.contains(4));
    }

    #[test]
    fn merging_two_consumers_of_one_queue() {
        let mut a = QueueLog::new(1, 100);
        let mut b = QueueLog::new(1, 100);
        for seq in [0, 2, 4] {
            a.record(0, seq);
        }
        for seq in [1, 3, 4] {
            b.record(0, seq);
        }
        a.merge(&b);
        let v = verify(&a, &[published(5)], &Route::all(1), false);
        assert_eq!((v.lost, v.duplicated, v.delivered), (0, 1, 6));
    }
}
