//! The event-time watermark of a subtask's inputs: the minimum over every input channel that
//! counts, with Flink's watermark status (`StatusWatermarkValve`).
//!
//! Each channel's watermark starts at `i64::MIN` (nothing known yet) and only rises: a lower
//! watermark than one already received on the same channel is ignored. A channel that has ended
//! no longer holds the others back. Neither does an idle channel (its producer said it sends
//! nothing for now), nor one that came back from idleness behind the watermark already handed
//! on, until it catches up (Flink's "unaligned" channel). When the last active channel goes idle,
//! the highest watermark of any channel is handed on and the subtask is idle itself. Once every
//! channel has ended no watermark is handed on: the operator's `finish` follows and does what a
//! final watermark would.

use strom_network::StreamStatus;

/// One input channel.
#[derive(Debug, Clone, Copy)]
struct Channel {
    /// The highest watermark received.
    watermark: i64,
    idle: bool,
}

/// One subtask's input watermarks, keyed by (gate, channel).
#[derive(Debug)]
pub(crate) struct InputWatermarks {
    /// Per gate, per channel; `None` once the channel ended.
    channels: Vec<Vec<Option<Channel>>>,
    /// Channels that have not ended.
    open: usize,
    /// The last combined watermark handed on.
    handed: i64,
}

impl InputWatermarks {
    /// Inputs with `channels_per_gate[g]` channels on gate `g`.
    pub(crate) fn new(channels_per_gate: &[u32]) -> Self {
        let fresh = Channel {
            watermark: i64::MIN,
            idle: false,
        };
        let channels: Vec<Vec<Option<Channel>>> = channels_per_gate
            .iter()
            .map(|&n| vec![Some(fresh); n as usize])
            .collect();
        let open = channels.iter().map(Vec::len).sum();
        Self {
            channels,
            open,
            handed: i64::MIN,
        }
    }

    /// A watermark arrived on `gate`/`channel`; returns the combined watermark if it rose.
    pub(crate) fn on_watermark(&mut self, gate: u32, channel: u32, watermark: i64) -> Option<i64> {
        match self.slot(gate, channel) {
            Some(Some(current)) if watermark > current.watermark => {
                current.watermark = watermark;
                // A watermark comes from an active producer.
                current.idle = false;
            }
            // Not higher, after the end, or a channel the gate does not have.
            _ => return None,
        }
        self.combined_if_risen()
    }

    /// `gate`/`channel` ended; returns the combined watermark if it rose (never once every
    /// channel has ended).
    pub(crate) fn on_end(&mut self, gate: u32, channel: u32) -> Option<i64> {
        match self.slot(gate, channel) {
            Some(slot @ Some(_)) => *slot = None,
            _ => return None,
        }
        self.open -= 1;
        self.combined_if_risen()
    }

    /// `gate`/`channel` went idle or active again; returns the combined watermark if it rose.
    pub(crate) fn on_status(
        &mut self,
        gate: u32,
        channel: u32,
        status: StreamStatus,
    ) -> Option<i64> {
        match self.slot(gate, channel) {
            Some(Some(current)) => current.idle = status == StreamStatus::Idle,
            _ => return None,
        }
        if self.idle() {
            // Nothing holds back any more: hand on the furthest any channel got.
            let furthest = self.open_channels().map(|c| c.watermark).max()?;
            return (furthest > self.handed).then(|| {
                self.handed = furthest;
                furthest
            });
        }
        self.combined_if_risen()
    }

    /// Every channel that has not ended is idle (and one has not): the subtask is idle too.
    pub(crate) fn idle(&self) -> bool {
        self.open > 0 && self.open_channels().all(|c| c.idle)
    }

    fn open_channels(&self) -> impl Iterator<Item = &Channel> {
        self.channels.iter().flatten().flatten()
    }

    fn slot(&mut self, gate: u32, channel: u32) -> Option<&mut Option<Channel>> {
        self.channels
            .get_mut(gate as usize)
            .and_then(|gate| gate.get_mut(channel as usize))
    }

    fn combined_if_risen(&mut self) -> Option<i64> {
        if self.open == 0 {
            return None;
        }
        // Channels behind what was handed on came back from idleness: they count again once
        // they caught up.
        let handed = self.handed;
        let combined = self
            .open_channels()
            .filter(|c| !c.idle && c.watermark >= handed)
            .map(|c| c.watermark)
            .min()
            .unwrap_or(i64::MAX);
        if combined == i64::MAX {
            return None;
        }
        // `handed` starts at i64::MIN, so i64::MIN itself is never handed on.
        (combined > self.handed).then(|| {
            self.handed = combined;
            combined
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_minimum_over_all_channels_of_all_gates_is_handed_on_when_it_rises() {
        let mut w = InputWatermarks::new(&[2, 1]);
        assert_eq!(w.on_watermark(0, 0, 100), None);
        assert_eq!(w.on_watermark(0, 1, 50), None);
        assert_eq!(w.on_watermark(1, 0, 300), Some(50));
        assert_eq!(w.on_watermark(0, 1, 200), Some(100));
        assert_eq!(w.on_watermark(0, 0, 120), Some(120));
        // A channel going back is ignored, and so is the same value again.
        assert_eq!(w.on_watermark(0, 0, 110), None);
        assert_eq!(w.on_watermark(0, 0, 120), None);
        // An ended channel no longer holds the others back.
        assert_eq!(w.on_end(0, 0), Some(200));
        assert_eq!(w.on_watermark(0, 0, 1000), None);
        assert_eq!(w.on_end(0, 1), Some(300));
        // The end of every input is left to `finish`.
        assert_eq!(w.on_end(1, 0), None);
        assert_eq!(w.on_end(1, 0), None);
    }

    #[test]
    fn ends_alone_hand_on_nothing_and_unknown_channels_are_ignored() {
        let mut w = InputWatermarks::new(&[2]);
        assert_eq!(w.on_end(0, 0), None);
        assert_eq!(w.on_watermark(0, 2, 5), None);
        assert_eq!(w.on_watermark(3, 0, 5), None);
        assert_eq!(w.on_end(4, 4), None);
        assert_eq!(w.on_watermark(0, 1, i64::MIN), None);
        assert_eq!(w.on_watermark(0, 1, -7), Some(-7));
        assert_eq!(w.on_end(0, 1), None);
    }

    #[test]
    fn idle_channels_do_not_hold_back_and_rejoin_once_they_catch_up() {
        let mut w = InputWatermarks::new(&[3]);
        assert_eq!(w.on_watermark(0, 0, 100), None);
        assert_eq!(w.on_watermark(0, 1, 200), None);
        // Channel 2 has no partitions: it goes idle, and the others carry the watermark.
        assert_eq!(w.on_status(0, 2, StreamStatus::Idle), Some(100));
        assert!(!w.idle());
        assert_eq!(w.on_watermark(0, 0, 300), Some(200));
        // The last active channels go idle: the furthest watermark is handed on.
        assert_eq!(w.on_status(0, 0, StreamStatus::Idle), None);
        assert_eq!(w.on_status(0, 1, StreamStatus::Idle), Some(300));
        assert!(w.idle());
        // Channel 2 comes back behind 300: it does not pull the watermark back, nor hold the
        // others back, until it catches up.
        assert_eq!(w.on_status(0, 2, StreamStatus::Active), None);
        assert!(!w.idle());
        assert_eq!(w.on_watermark(0, 2, 250), None);
        assert_eq!(w.on_status(0, 1, StreamStatus::Active), None);
        assert_eq!(w.on_watermark(0, 1, 400), Some(400));
        assert_eq!(w.on_watermark(0, 2, 350), None);
        assert_eq!(w.on_watermark(0, 2, 450), None);
        assert_eq!(w.on_watermark(0, 1, 500), Some(450));
        // An ended channel is neither idle nor active; statuses of unknown channels are ignored.
        assert_eq!(w.on_end(0, 0), None);
        assert_eq!(w.on_status(0, 0, StreamStatus::Idle), None);
        assert_eq!(w.on_status(5, 0, StreamStatus::Idle), None);
        assert_eq!(w.on_status(0, 1, StreamStatus::Idle), None);
        assert!(!w.idle());
        assert_eq!(w.on_status(0, 2, StreamStatus::Idle), Some(500));
        assert!(w.idle());
    }
}
