//! The drivers' side of the history: the [`Recorder`] nodes append events to (in memory in
//! the simulator, streamed to a JSON Lines file by a real process), and reading and writing
//! history files. The event vocabulary itself (`trace`) knows none of this: it is pure data.

use crate::trace::{Event, EventKind};
use std::io::Write as _;
use std::sync::{Arc, Mutex};

/// A cloneable handle that nodes append events to. Time comes from the caller, so the
/// recorder itself reads no clock. In the simulator it keeps the history in memory; a real
/// process streams it to a file instead (one JSON line per event, flushed at once).
#[derive(Clone, Default)]
pub struct Recorder {
    events: Arc<Mutex<Vec<Event>>>,
    stream: Option<Arc<Mutex<Box<dyn std::io::Write + Send>>>>,
    /// Live copies of every new event, for triggered faults.
    subscribers: Arc<Mutex<Vec<tokio::sync::mpsc::UnboundedSender<Event>>>>,
}

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A recorder with room for `events` before its storage must grow. The room is only
    /// reserved address space: pages no event was written to take no memory. A history that
    /// outgrows its buffer is copied to one twice the size, and for that moment both are
    /// resident; for a large run, whose history is most of its memory, that copy near the
    /// end was its peak (smoke with 500,000 tasks: 1,843 MB, and 1,682 MB with the room
    /// reserved).
    pub fn with_capacity(events: usize) -> Self {
        Recorder { events: Arc::new(Mutex::new(Vec::with_capacity(events))), ..Recorder::default() }
    }

    /// A recorder that writes every event to `out` and keeps none in memory.
    pub fn streaming(out: Box<dyn std::io::Write + Send>) -> Self {
        Recorder { stream: Some(Arc::new(Mutex::new(out))), ..Recorder::default() }
    }

    /// Every event recorded from now on, until the receiver is dropped.
    pub fn subscribe(&self) -> tokio::sync::mpsc::UnboundedReceiver<Event> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.subscribers.lock().expect("recorder poisoned").push(tx);
        rx
    }

    pub fn record(&self, at_ms: u64, node: impl Into<faultline_model::node_name::NodeName>, kind: EventKind) {
        let event = Event { at_ms, node: node.into(), kind };
        {
            let mut subscribers = self.subscribers.lock().expect("recorder poisoned");
            if !subscribers.is_empty() {
                subscribers.retain(|tx| tx.send(event.clone()).is_ok());
            }
        }
        match &self.stream {
            Some(out) => {
                let mut out = out.lock().expect("recorder poisoned");
                let line = serde_json::to_string(&event).expect("event serializes");
                // A history that cannot be written is a broken run: say so loudly.
                writeln!(out, "{line}").and_then(|()| out.flush()).expect("writing the history");
            }
            None => self.events.lock().expect("recorder poisoned").push(event),
        }
    }

    /// A handle that tells whether any clone of this recorder is still alive.
    pub fn probe(&self) -> RecorderProbe {
        RecorderProbe(Arc::downgrade(&self.events))
    }

    /// A copy of everything recorded so far.
    pub fn snapshot(&self) -> Vec<Event> {
        self.events.lock().expect("recorder poisoned").clone()
    }

    /// Everything recorded so far, leaving the recorder empty (no copy: the end of a run).
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.events.lock().expect("recorder poisoned"))
    }

    pub fn len(&self) -> usize {
        self.events.lock().expect("recorder poisoned").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs `f` over the events recorded so far without copying them.
    pub fn with<R>(&self, f: impl FnOnce(&[Event]) -> R) -> R {
        f(&self.events.lock().expect("recorder poisoned"))
    }
}

/// Tells whether a recorder's clones are all gone (see [`Recorder::probe`]).
pub struct RecorderProbe(std::sync::Weak<Mutex<Vec<Event>>>);

impl RecorderProbe {
    pub fn upgrade(&self) -> Option<()> {
        self.0.upgrade().map(|_| ())
    }
}

/// Writes the history as JSON Lines.
pub fn write_jsonl(events: &[Event], out: &mut impl std::io::Write) -> std::io::Result<()> {
    for event in events {
        serde_json::to_writer(&mut *out, event)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Reads a JSON Lines history; errors name the file and line.
pub fn read_jsonl(path: &std::path::Path) -> Result<Vec<Event>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| format!("{}:{}: not a history event: {e}", path.display(), i + 1))
        })
        .collect()
}
