//! The event-time watermark of a subtask's inputs: the minimum over every input channel.
//!
//! Each channel's watermark starts at `i64::MIN` (nothing known yet) and only rises: a lower
//! watermark than one already received on the same channel is ignored. A channel that has ended
//! no longer holds the others back (it counts as `i64::MAX`). Once every channel has ended no
//! watermark is handed on: the operator's `finish` follows and does what a final watermark would.

/// One subtask's input watermarks, keyed by (gate, channel).
#[derive(Debug)]
pub(crate) struct InputWatermarks {
    /// Per gate, per channel: the highest watermark received, `None` once the channel ended.
    channels: Vec<Vec<Option<i64>>>,
    /// Channels that have not ended.
    open: usize,
    /// The last combined watermark handed on.
    handed: i64,
}

impl InputWatermarks {
    /// Inputs with `channels_per_gate[g]` channels on gate `g`.
    pub(crate) fn new(channels_per_gate: &[u32]) -> Self {
        let channels: Vec<Vec<Option<i64>>> = channels_per_gate
            .iter()
            .map(|&n| vec![Some(i64::MIN); n as usize])
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
            Some(Some(current)) if watermark > *current => *current = watermark,
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

    fn slot(&mut self, gate: u32, channel: u32) -> Option<&mut Option<i64>> {
        self.channels
            .get_mut(gate as usize)
            .and_then(|gate| gate.get_mut(channel as usize))
    }

    fn combined_if_risen(&mut self) -> Option<i64> {
        if self.open == 0 {
            return None;
        }
        let combined = self
            .channels
            .iter()
            .flatten()
            .map(|w| w.unwrap_or(i64::MAX))
            .min()
            .unwrap_or(i64::MAX);
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
}
