//! The store's keys and records (faultline patch, PATCHED.md change 15).
//!
//! Upstream kept them in one `BTreeMap`. A put or a compare only looks a key up, but a
//! B-tree search compares the key with every key on its way down, and faultline's keys share
//! a long prefix (`/faultline/tasks/`): about 66 byte-string comparisons a put, a fifth of
//! the simulated store's work. Here each record sits in a hash map (Fx, as madsim's network
//! maps, PATCHED.md of madsim change 6), found by one hash of the key, and the keys alone
//! are kept in order in a `BTreeSet` for what walks them (range reads, the leader of an
//! election, the dump). A key's bytes are allocated once and shared by both.
//!
//! Nothing walks the hash map: every walk goes through the ordered set, so replies, events
//! and the dump come in key order as before.

use super::bytes::Bytes;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::Arc;

/// Records by key, looked up by hash and walked in key order.
#[derive(Debug)]
pub(crate) struct Keyspace<V> {
    records: FxHashMap<Arc<[u8]>, V>,
    order: BTreeSet<Arc<[u8]>>,
}

impl<V> Default for Keyspace<V> {
    fn default() -> Self {
        Keyspace {
            records: FxHashMap::default(),
            order: BTreeSet::new(),
        }
    }
}

impl<V> Keyspace<V> {
    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.records.get(key)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        self.records.get_mut(key)
    }

    /// Sets `key`'s record, returning the one it replaces.
    pub fn insert(&mut self, key: &[u8], record: V) -> Option<V> {
        if let Some(slot) = self.records.get_mut(key) {
            return Some(std::mem::replace(slot, record));
        }
        let key: Arc<[u8]> = Arc::from(key);
        self.order.insert(key.clone());
        self.records.insert(key, record);
        None
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<V> {
        let record = self.records.remove(key)?;
        self.order.remove(key);
        Some(record)
    }

    /// The records of the keys in `[start, end)`, in key order.
    pub fn range<'a>(&'a self, start: &[u8], end: &[u8]) -> impl Iterator<Item = (&'a [u8], &'a V)> + 'a {
        let keys = self
            .order
            .range::<[u8], _>((Bound::Included(start), Bound::Excluded(end)));
        keys.map(|key| (&**key, &self.records[&**key]))
    }

    /// Every record, in key order.
    fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> + '_ {
        self.order.iter().map(|key| (&**key, &self.records[&**key]))
    }
}

/// Written as upstream's `BTreeMap<Bytes, V>` was: a map in key order.
impl<V: Serialize> Serialize for Keyspace<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter().map(|(key, record)| (Bytes::from(key.to_vec()), record)))
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Keyspace<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<Bytes, V>::deserialize(deserializer)?;
        let mut keyspace = Keyspace::default();
        for (key, record) in map {
            keyspace.insert(&key, record);
        }
        Ok(keyspace)
    }
}
