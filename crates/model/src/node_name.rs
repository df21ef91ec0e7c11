//! A node's name in the history, interned: a run names a handful of nodes in millions of
//! events, so each event holds an 8-byte pointer to the one copy of its name (an inline
//! string took 16: at a million tasks, 83 MB of a run's peak).
//!
//! The names live for the rest of the process (a run's nodes are few; a history file read
//! back names its own), at most [`MAX_NAMES`] of them. A `NodeName` reads, compares, orders,
//! hashes, prints and serializes exactly as its string does, so histories, their JSON and
//! their hashes are what they were with a string.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::sync::Mutex;

/// The most distinct node names one process interns: a history naming more is refused as
/// it is read (no simulated cluster comes near it).
pub const MAX_NAMES: usize = 65_536;

/// An interned node name (see the module doc).
#[derive(Clone, Copy)]
pub struct NodeName(&'static String);

static NAMES: Mutex<Option<FxHashMap<&'static str, &'static String>>> = Mutex::new(None);

thread_local! {
    /// This thread's copy of the names it has seen: recording an event takes no lock.
    static SEEN: std::cell::RefCell<FxHashMap<&'static str, NodeName>> = Default::default();
}

impl NodeName {
    /// The interned copy of `name`; `None` once [`MAX_NAMES`] other names are interned.
    pub fn try_new(name: &str) -> Option<NodeName> {
        if let Some(seen) = SEEN.with(|seen| seen.borrow().get(name).copied()) {
            return Some(seen);
        }
        let interned = Self::intern(name)?;
        SEEN.with(|seen| seen.borrow_mut().insert(interned.as_str(), interned));
        Some(interned)
    }

    fn intern(name: &str) -> Option<NodeName> {
        let mut names = NAMES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let names = names.get_or_insert_with(FxHashMap::default);
        if let Some(&interned) = names.get(name) {
            return Some(NodeName(interned));
        }
        if names.len() >= MAX_NAMES {
            return None;
        }
        let interned: &'static String = Box::leak(Box::new(name.to_owned()));
        names.insert(interned.as_str(), interned);
        Some(NodeName(interned))
    }

    pub fn as_str(&self) -> &'static str {
        self.0.as_str()
    }
}

/// Panics past [`MAX_NAMES`] names: the simulator and the nodes name a fixed few (a history
/// read from a file goes through `Deserialize`, which refuses instead).
impl From<&str> for NodeName {
    fn from(name: &str) -> Self {
        NodeName::try_new(name).unwrap_or_else(|| panic!("more than {MAX_NAMES} node names in one process"))
    }
}

impl From<&String> for NodeName {
    fn from(name: &String) -> Self {
        name.as_str().into()
    }
}

impl From<String> for NodeName {
    fn from(name: String) -> Self {
        name.as_str().into()
    }
}

impl std::ops::Deref for NodeName {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for NodeName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for NodeName {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for NodeName {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0) || self.as_str() == other.as_str()
    }
}

impl Eq for NodeName {}

impl PartialEq<str> for NodeName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for NodeName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for NodeName {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<NodeName> for str {
    fn eq(&self, other: &NodeName) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<NodeName> for &str {
    fn eq(&self, other: &NodeName) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<NodeName> for String {
    fn eq(&self, other: &NodeName) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialOrd for NodeName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for NodeName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

/// As the string hashes (`str`'s `Hash`, as `EcoString`'s was): history hashes are unchanged.
impl std::hash::Hash for NodeName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl std::fmt::Debug for NodeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for NodeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for NodeName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for NodeName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        NodeName::try_new(&name).ok_or_else(|| {
            serde::de::Error::custom(format!("more than {MAX_NAMES} distinct node names in one process"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{Hash, Hasher};

    #[test]
    fn a_name_is_interned_once_and_acts_as_its_string() {
        let (a, b) = (NodeName::from("coord-1"), NodeName::from(String::from("coord-1")));
        assert!(std::ptr::eq(a.as_str(), b.as_str()), "one copy");
        assert_eq!(std::mem::size_of::<NodeName>(), 8);
        assert_eq!(a, "coord-1");
        assert!(NodeName::from("coord-2") > a);
        assert_eq!(format!("{a} {a:?}"), "coord-1 \"coord-1\"");
        let hash = |h: &dyn Fn(&mut std::collections::hash_map::DefaultHasher)| {
            let mut s = std::collections::hash_map::DefaultHasher::new();
            h(&mut s);
            s.finish()
        };
        assert_eq!(hash(&|s| a.hash(s)), hash(&|s| ecow::EcoString::from("coord-1").hash(s)));
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"coord-1\"");
        assert_eq!(serde_json::from_str::<NodeName>("\"coord-1\"").unwrap(), a);
    }
}
