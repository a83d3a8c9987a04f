//! Barrier alignment at an operator's inputs (Flink's aligned checkpoints).
//!
//! When barrier `n` arrives on a channel, that channel is blocked: what it delivers next belongs
//! to the next checkpoint and is held back, in arrival order, until barrier `n` has arrived on
//! every channel that has not ended. Then the operator snapshots, the held frames are replayed
//! ahead of new input, and processing goes on. A barrier with a higher id arriving mid-alignment
//! abandons the older checkpoint (it was aborted upstream); older barriers are ignored.
//!
//! All channels share one queue ([`strom_network::InputGate`]), so blocking means buffering here
//! rather than not reading the socket; the buffer holds at most what the unblocked producers send
//! before their barrier, which credit-based flow control bounds in Flink and the producers'
//! own barrier cadence bounds here.

use std::collections::{HashSet, VecDeque};
use std::time::Instant;

use strom_network::{Barrier, Frame, InputEvent};

/// What the task loop does next.
#[derive(Debug)]
pub(crate) enum Step {
    /// Process this frame (batch, watermark or end of stream).
    Process(InputEvent),
    /// Every input has delivered this barrier: snapshot; `alignment_ms` is how long it took.
    Checkpoint {
        /// The barrier.
        barrier: Barrier,
        /// Time from the first to the last barrier.
        alignment_ms: u64,
    },
}

/// The alignment state of one operator subtask.
#[derive(Debug)]
pub(crate) struct Aligner {
    total: usize,
    ended: HashSet<(u32, u32)>,
    blocked: HashSet<(u32, u32)>,
    current: Option<(Barrier, Instant)>,
    /// The highest checkpoint aligned or abandoned; older barriers are stale.
    last: u64,
    held: VecDeque<InputEvent>,
    replay: VecDeque<InputEvent>,
}

impl Aligner {
    /// An aligner for gates with `channels_per_gate[g]` channels each.
    pub(crate) fn new(channels_per_gate: &[u32]) -> Self {
        Self {
            total: channels_per_gate.iter().map(|c| *c as usize).sum(),
            ended: HashSet::new(),
            blocked: HashSet::new(),
            current: None,
            last: 0,
            held: VecDeque::new(),
            replay: VecDeque::new(),
        }
    }

    /// A held frame to process before reading new input.
    pub(crate) fn next_replayed(&mut self) -> Option<InputEvent> {
        self.replay.pop_front()
    }

    /// Whether a checkpoint is being aligned.
    #[cfg(test)]
    pub(crate) fn aligning(&self) -> bool {
        self.current.is_some()
    }

    /// Takes one frame from the inputs; returns what to do with it (possibly nothing now).
    pub(crate) fn offer(&mut self, event: InputEvent, steps: &mut Vec<Step>) {
        let channel = (event.gate, event.channel);
        if self.blocked.contains(&channel) {
            self.held.push_back(event);
            return;
        }
        match event.frame {
            Frame::Barrier(barrier) => {
                let id = barrier.checkpoint_id;
                match &self.current {
                    _ if id <= self.last => return,
                    Some((current, _)) if id < current.checkpoint_id => return,
                    Some((current, _)) if id > current.checkpoint_id => {
                        self.abandon();
                        self.current = Some((barrier, Instant::now()));
                    }
                    Some(_) => {}
                    None => self.current = Some((barrier, Instant::now())),
                }
                self.blocked.insert(channel);
                self.complete(steps);
            }
            Frame::EndOfStream => {
                self.ended.insert(channel);
                steps.push(Step::Process(event));
                self.complete(steps);
            }
            _ => steps.push(Step::Process(event)),
        }
    }

    fn complete(&mut self, steps: &mut Vec<Step>) {
        if self.current.is_none() || self.blocked.len() + self.ended.len() < self.total {
            return;
        }
        if let Some((barrier, started)) = self.current.take() {
            self.last = barrier.checkpoint_id;
            self.release();
            steps.push(Step::Checkpoint {
                barrier,
                alignment_ms: started.elapsed().as_millis() as u64,
            });
        }
    }

    fn abandon(&mut self) {
        if let Some((barrier, _)) = self.current.take() {
            self.last = barrier.checkpoint_id;
        }
        self.release();
    }

    /// Unblocks every channel: held frames go before what was still to replay (per channel,
    /// held frames are older).
    fn release(&mut self) {
        self.blocked.clear();
        let mut replay: VecDeque<InputEvent> = self.held.drain(..).collect();
        replay.append(&mut self.replay);
        self.replay = replay;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(gate: u32, channel: u32, frame: Frame) -> InputEvent {
        InputEvent {
            gate,
            channel,
            frame,
            wire_bytes: 0,
        }
    }

    fn barrier(id: u64) -> Frame {
        Frame::Barrier(Barrier {
            checkpoint_id: id,
            timestamp: 0,
            location: format!("/chk-{id}"),
        })
    }

    /// Feeds events (replayed ones first, as the task loop does) and describes the steps.
    fn run(aligner: &mut Aligner, events: Vec<InputEvent>) -> Vec<String> {
        let mut input: VecDeque<InputEvent> = events.into();
        let mut out = Vec::new();
        loop {
            let Some(event) = aligner.next_replayed().or_else(|| input.pop_front()) else {
                return out;
            };
            let mut steps = Vec::new();
            aligner.offer(event, &mut steps);
            for step in steps {
                out.push(match step {
                    Step::Process(e) => match e.frame {
                        Frame::Watermark(w) => format!("{}.{}:w{w}", e.gate, e.channel),
                        Frame::EndOfStream => format!("{}.{}:end", e.gate, e.channel),
                        other => format!("{}.{}:{other:?}", e.gate, e.channel),
                    },
                    Step::Checkpoint { barrier, .. } => format!("chk{}", barrier.checkpoint_id),
                });
            }
        }
    }

    #[test]
    fn frames_after_a_barrier_wait_for_the_other_channels() {
        let mut aligner = Aligner::new(&[2]);
        let steps = run(
            &mut aligner,
            vec![
                event(0, 0, Frame::Watermark(1)),
                event(0, 0, barrier(1)),
                event(0, 0, Frame::Watermark(2)),
                event(0, 1, Frame::Watermark(3)),
                event(0, 0, barrier(2)),
                event(0, 0, Frame::Watermark(4)),
                event(0, 1, barrier(1)),
                event(0, 1, Frame::Watermark(5)),
                event(0, 1, barrier(2)),
            ],
        );
        assert_eq!(
            steps,
            [
                "0.0:w1", "0.1:w3", "chk1", "0.0:w2", "0.1:w5", "chk2", "0.0:w4"
            ]
        );
        assert!(!aligner.aligning());
    }

    #[test]
    fn ended_channels_count_as_aligned_across_gates() {
        let mut aligner = Aligner::new(&[1, 2]);
        let steps = run(
            &mut aligner,
            vec![
                event(1, 1, Frame::EndOfStream),
                event(0, 0, barrier(7)),
                event(0, 0, Frame::Watermark(1)),
                event(0, 0, Frame::EndOfStream),
                event(1, 0, Frame::Watermark(2)),
                event(1, 0, Frame::EndOfStream),
            ],
        );
        assert_eq!(
            steps,
            ["1.1:end", "1.0:w2", "1.0:end", "chk7", "0.0:w1", "0.0:end"]
        );
    }

    #[test]
    fn newer_barriers_abandon_older_ones_and_stale_ones_are_ignored() {
        let mut aligner = Aligner::new(&[2]);
        let steps = run(
            &mut aligner,
            vec![
                event(0, 0, barrier(1)),
                event(0, 0, Frame::Watermark(1)),
                event(0, 1, barrier(2)),
                event(0, 0, barrier(2)),
                event(0, 1, barrier(1)),
                event(0, 1, Frame::Watermark(2)),
            ],
        );
        // Barrier 2 abandons 1 and releases channel 0's held watermark, which is processed
        // before the channel's own barrier 2 completes the alignment.
        assert_eq!(steps, ["0.0:w1", "chk2", "0.1:w2"]);
    }
}
