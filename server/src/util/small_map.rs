//! A map that is a short vector while it is small and a hash map once it
//! grows.
//!
//! Most of the broker's per-client and per-topic maps hold nothing or one
//! entry: a client's subscriptions, a topic node's subscribers, its children
//! below a device id. A `HashMap` is 48 bytes inline, and its first insert
//! allocates four buckets at once; ten thousand idle clients with one
//! subscription each paid about 500 bytes apiece for that. A vector of
//! exactly as many entries as it holds costs one entry's size, and a scan of
//! at most [`FEW`] keys is as fast as hashing one.

use std::{borrow::Borrow, collections::HashMap, hash::Hash};

/// Up to this many entries the map is a vector.
pub(crate) const FEW: usize = 8;

#[derive(Debug, Clone)]
pub enum SmallMap<K, V> {
    /// Exactly sized (a boxed slice is 16 bytes, a `Vec` 24): each insert
    /// or removal moves the entries to a new slice, cheap for so few.
    Few(Box<[(K, V)]>),
    // Boxed on purpose: a `HashMap` inline is 48 bytes, and every small map
    // (an idle client's, a topic node's) would carry them.
    #[allow(clippy::box_collection)]
    Many(Box<HashMap<K, V>>),
}

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        SmallMap::Few(Box::default())
    }
}

impl<K: Eq + Hash, V> SmallMap<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        match self {
            SmallMap::Few(entries) => entries.len(),
            SmallMap::Many(map) => map.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        match self {
            SmallMap::Few(entries) => entries
                .iter()
                .find(|(k, _)| k.borrow() == key)
                .map(|(_, v)| v),
            SmallMap::Many(map) => map.get(key),
        }
    }

    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        match self {
            SmallMap::Few(entries) => entries
                .iter_mut()
                .find(|(k, _)| (*k).borrow() == key)
                .map(|(_, v)| v),
            SmallMap::Many(map) => map.get_mut(key),
        }
    }

    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.get(key).is_some()
    }

    /// Insert or replace; returns the value replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.get_mut(&key) {
            Some(old) => Some(std::mem::replace(old, value)),
            None => {
                self.push_new(key, value);
                None
            }
        }
    }

    /// The value of `key`, inserted by `make` if it is not there.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        if !self.contains_key(&key) {
            return self.push_new(key, make());
        }
        match self {
            SmallMap::Few(entries) => {
                let at = entries.iter().position(|(k, _)| *k == key);
                &mut entries[at.expect("present")].1
            }
            SmallMap::Many(map) => map.get_mut(&key).expect("present"),
        }
    }

    /// Add a key known to be absent.
    fn push_new(&mut self, key: K, value: V) -> &mut V {
        if let SmallMap::Few(entries) = self {
            if entries.len() >= FEW {
                let mut map = HashMap::with_capacity(2 * FEW);
                map.extend(std::mem::take(entries).into_vec());
                *self = SmallMap::Many(Box::new(map));
            }
        }
        match self {
            SmallMap::Few(entries) => {
                let mut grown = std::mem::take(entries).into_vec();
                grown.reserve_exact(1);
                grown.push((key, value));
                *entries = grown.into_boxed_slice();
                &mut entries.last_mut().expect("just pushed").1
            }
            SmallMap::Many(map) => map.entry(key).or_insert(value),
        }
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        match self {
            SmallMap::Few(entries) => {
                let at = entries.iter().position(|(k, _)| k.borrow() == key)?;
                let mut rest = std::mem::take(entries).into_vec();
                let (_, value) = rest.swap_remove(at);
                *entries = rest.into_boxed_slice();
                Some(value)
            }
            SmallMap::Many(map) => map.remove(key),
        }
    }

    pub fn clear(&mut self) {
        *self = SmallMap::Few(Box::default());
    }

    pub fn iter(&self) -> Iter<'_, K, V> {
        match self {
            SmallMap::Few(entries) => Iter::Few(entries.iter()),
            SmallMap::Many(map) => Iter::Many(map.iter()),
        }
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> + '_ {
        self.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> Box<dyn Iterator<Item = &mut V> + '_> {
        match self {
            SmallMap::Few(entries) => Box::new(entries.iter_mut().map(|(_, v)| v)),
            SmallMap::Many(map) => Box::new(map.values_mut()),
        }
    }
}

impl<K: Eq + Hash, V> FromIterator<(K, V)> for SmallMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(entries: I) -> Self {
        let mut map = SmallMap::new();
        for (key, value) in entries {
            map.insert(key, value);
        }
        map
    }
}

/// The entries of a [`SmallMap`], in no particular order.
pub enum Iter<'a, K, V> {
    Few(std::slice::Iter<'a, (K, V)>),
    Many(std::collections::hash_map::Iter<'a, K, V>),
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Few(entries) => entries.next().map(|(k, v)| (k, v)),
            Iter::Many(entries) => entries.next(),
        }
    }
}

impl<'a, K: Eq + Hash, V> IntoIterator for &'a SmallMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the operations, it answers as a `HashMap` does, across
        /// the switch from vector to hash map.
        #[test]
        fn behaves_as_a_hash_map(ops in proptest::collection::vec((0u8..3, 0u8..24, any::<u16>()), 0..200)) {
            let mut small = SmallMap::new();
            let mut model = HashMap::new();
            for (op, key, value) in ops {
                match op {
                    0 => prop_assert_eq!(small.insert(key, value), model.insert(key, value)),
                    1 => prop_assert_eq!(small.remove(&key), model.remove(&key)),
                    _ => {
                        let got = *small.get_or_insert_with(key, || value);
                        prop_assert_eq!(got, *model.entry(key).or_insert(value));
                    }
                }
                prop_assert_eq!(small.len(), model.len());
                prop_assert_eq!(small.get(&key), model.get(&key));
            }
            let mut entries: Vec<_> = small.iter().map(|(k, v)| (*k, *v)).collect();
            let mut expected: Vec<_> = model.into_iter().collect();
            entries.sort();
            expected.sort();
            prop_assert_eq!(entries, expected);
        }
    }

    #[test]
    fn a_small_map_holds_exactly_its_entries() {
        assert_eq!(std::mem::size_of::<SmallMap<Box<str>, u64>>(), 16);
        let mut map = SmallMap::new();
        map.insert("a", 1u64);
        match &map {
            SmallMap::Few(entries) => assert_eq!(entries.len(), 1),
            SmallMap::Many(_) => panic!("one entry is few"),
        }
        for n in 0..FEW as u64 {
            map.insert(["b", "c", "d", "e", "f", "g", "h", "i"][n as usize], n);
        }
        assert!(matches!(map, SmallMap::Many(_)), "past FEW it hashes");
        assert_eq!(map.len(), FEW + 1);
    }
}
