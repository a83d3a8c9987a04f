//! [`Reasons`]: why the offers of each agent did not fit one group of identical requests, the
//! latest per agent, newest first, with a count per cause so that the distinct causes are known
//! without rescanning every agent (with 10,000 agents a rescan per offers event adds up).

use std::collections::{BTreeMap, HashMap};

use strom_mesos::AgentId;

use crate::matching::AgentUnfit;

/// The latest reason of each agent, ordered by when it was recorded.
#[derive(Debug, Clone, Default)]
pub(super) struct Reasons {
    next_seq: u64,
    /// Agent → (sequence number of its latest reason, that reason).
    by_agent: HashMap<AgentId, (u64, AgentUnfit)>,
    /// Sequence number → agent, for newest-first listing.
    by_seq: BTreeMap<u64, AgentId>,
    /// [`crate::matching::Unfit::cause`] → number of agents with a reason of that cause.
    causes: BTreeMap<String, usize>,
}

impl Reasons {
    pub(super) fn is_empty(&self) -> bool {
        self.by_agent.is_empty()
    }

    /// The number of agents with a reason.
    pub(super) fn len(&self) -> usize {
        self.by_agent.len()
    }

    /// Records `reason` as its agent's latest, replacing the agent's previous one.
    pub(super) fn record(&mut self, reason: AgentUnfit) {
        let seq = self.next_seq;
        self.next_seq += 1;
        *self.causes.entry(reason.unfit.cause()).or_default() += 1;
        self.by_seq.insert(seq, reason.agent_id.clone());
        if let Some((old_seq, old)) = self.by_agent.insert(reason.agent_id.clone(), (seq, reason)) {
            self.by_seq.remove(&old_seq);
            self.forget_cause(&old.unfit.cause());
        }
    }

    /// Forgets every reason.
    pub(super) fn clear(&mut self) {
        self.by_agent.clear();
        self.by_seq.clear();
        self.causes.clear();
    }

    /// The reasons, newest first.
    pub(super) fn newest(&self) -> impl Iterator<Item = &AgentUnfit> {
        self.by_seq
            .values()
            .rev()
            .filter_map(|agent| self.by_agent.get(agent))
            .map(|(_, reason)| reason)
    }

    /// The distinct causes of the reasons, sorted.
    pub(super) fn causes(&self) -> impl Iterator<Item = &String> {
        self.causes.keys()
    }

    fn forget_cause(&mut self, cause: &str) {
        if let Some(count) = self.causes.get_mut(cause) {
            *count -= 1;
            if *count == 0 {
                self.causes.remove(cause);
            }
        }
    }
}
