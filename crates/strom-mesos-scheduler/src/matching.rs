//! Offer matching: whether the offers of one agent can host a TaskManager, and carving the
//! TaskManager's resources out of them (Flink's `MesosResourceAllocation`, reference 1.9).
//!
//! A [`ResourcePool`] pools the usable resources of one or more offers of the same agent,
//! reserved resources of the framework's role (or an ancestor role) first, then unreserved
//! (`*`) ones, each group in offer order. [`ResourcePool::carve`] checks the hard constraints
//! and the sums first and only then takes, so a failed match leaves the pool unchanged; a
//! successful one splits resources and ranges, keeping the remainders for the next TaskManager.
//! Every carved resource is a copy of the offered one with a smaller value, so its role,
//! reservations, allocation info and unmodelled fields go back to the master unchanged.
//!
//! A failed match says why as an [`Unfit`] ([`ResourcePool::try_carve`]), which names the
//! resource or constraint but not the agent, so the coordinator can keep the latest one per
//! agent and show it to users ([`AgentUnfit`]); [`ResourcePool::carve`] gives the same reason as
//! a [`Mismatch`] naming the hostname, for logs.

use std::collections::BTreeMap;
use std::fmt;

use strom_mesos::types::{Attribute, Offer, Range, Ranges, Resource, ValueType};
use strom_mesos::{AgentId, OfferId};

use crate::error::Mismatch;

/// Scalars closer than this are equal (Flink's ε); remainders below it are dropped.
pub const EPSILON: f64 = 1e-5;

/// The constraint attribute that compares the agent's hostname instead of an attribute.
pub const HOSTNAME_ATTRIBUTE: &str = "HOSTNAME";

/// Name of the port ranges resource.
pub const PORTS: &str = "ports";

/// A hard constraint: the agent's attribute `attribute` must equal `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConstraint {
    /// Attribute name, or [`HOSTNAME_ATTRIBUTE`].
    pub attribute: String,
    /// Required value.
    pub value: String,
}

/// What one TaskManager needs from an agent.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRequirements {
    /// `cpus`.
    pub cpus: f64,
    /// `mem` in MiB.
    pub mem_mib: f64,
    /// `disk` in MB; 0 takes none.
    pub disk_mb: f64,
    /// `gpus`; 0 takes none.
    pub gpus: f64,
    /// Network bandwidth in Mb/s, under `network_resource_name`; 0 takes none.
    pub network_mbps: f64,
    /// Name of the network scalar (used for matching and carving alike, unlike Flink).
    pub network_resource_name: String,
    /// Keys that each get one port, in assignment order.
    pub port_keys: Vec<String>,
    /// Hard constraints.
    pub constraints: Vec<HostConstraint>,
}

impl TaskRequirements {
    /// The scalars to take, in Flink's order: cpus, gpus, mem, disk, network.
    fn scalars(&self) -> [(&str, f64); 5] {
        [
            ("cpus", self.cpus),
            ("gpus", self.gpus),
            ("mem", self.mem_mib),
            ("disk", self.disk_mb),
            (self.network_resource_name.as_str(), self.network_mbps),
        ]
    }
}

/// The resources carved for one TaskManager.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchedResources {
    /// The `TaskInfo.resources`.
    pub resources: Vec<Resource>,
    /// Port key → assigned port.
    pub ports: BTreeMap<String, u16>,
}

/// Why the offers of one agent cannot host a TaskManager, without naming the agent. Its
/// `Display` is the text users see after `agent <hostname> (<id>): `.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Unfit {
    /// A hard constraint is not met.
    Constraint {
        /// Attribute name, or [`HOSTNAME_ATTRIBUTE`].
        attribute: String,
        /// Required value.
        wanted: String,
        /// The agent's value, if it has the attribute.
        actual: Option<String>,
    },
    /// Not enough of a scalar resource usable by the framework's role.
    Scalar {
        /// Resource name (`cpus`, `mem`, ...).
        name: String,
        /// Amount wanted.
        wanted: f64,
        /// Usable amount offered.
        offered: f64,
    },
    /// Not enough usable ports.
    Ports {
        /// Number of port keys.
        wanted: usize,
        /// Usable ports offered.
        offered: u64,
    },
    /// The agent offered enough, but part of it is reserved for other roles than the
    /// framework's, so it cannot be used.
    Role {
        /// Resource name (`ports` counts ports).
        name: String,
        /// The framework's role.
        role: String,
        /// The roles the unusable part is reserved for, sorted.
        reserved_for: Vec<String>,
        /// The amount reserved for those roles.
        reserved: f64,
        /// The shortage of usable resources ([`Unfit::Scalar`] or [`Unfit::Ports`]).
        shortage: Box<Unfit>,
    },
}

impl Unfit {
    /// What kind of failure this is, without the amounts, which change from offer to offer
    /// (`not enough cpus`, `no attribute zone=eu-b`): the driver warns once per distinct set of
    /// causes rather than on every offer.
    pub fn cause(&self) -> String {
        match self {
            Unfit::Constraint {
                attribute, wanted, ..
            } => format!("no attribute {attribute}={wanted}"),
            Unfit::Scalar { name, .. } => format!("not enough {name}"),
            Unfit::Ports { .. } => format!("not enough {PORTS}"),
            Unfit::Role { name, .. } => format!("role mismatch on {name}"),
        }
    }

    /// The same reason as a [`Mismatch`] on agent `hostname` (a role mismatch is its shortage).
    fn into_mismatch(self, hostname: &str) -> Mismatch {
        let hostname = hostname.to_owned();
        match self {
            Unfit::Constraint {
                attribute,
                wanted,
                actual,
            } => Mismatch::Constraint {
                hostname,
                attribute,
                wanted,
                actual,
            },
            Unfit::Scalar {
                name,
                wanted,
                offered,
            } => Mismatch::Scalar {
                hostname,
                name,
                wanted,
                offered,
            },
            Unfit::Ports { wanted, offered } => Mismatch::Ports {
                hostname,
                wanted,
                offered,
            },
            Unfit::Role { shortage, .. } => shortage.into_mismatch(&hostname),
        }
    }
}

impl fmt::Display for Unfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unfit::Constraint {
                attribute,
                wanted,
                actual: None,
            } => write!(f, "no attribute {attribute}={wanted}"),
            Unfit::Constraint {
                attribute,
                wanted,
                actual: Some(actual),
            } => write!(
                f,
                "no attribute {attribute}={wanted} (it has {attribute}={actual})"
            ),
            Unfit::Scalar {
                name,
                wanted,
                offered,
            } => write!(f, "not enough {name}: wanted {wanted}, offered {offered}"),
            Unfit::Ports { wanted, offered } => {
                write!(f, "not enough {PORTS}: wanted {wanted}, offered {offered}")
            }
            Unfit::Role {
                name,
                role,
                reserved_for,
                reserved,
                shortage,
            } => write!(
                f,
                "role mismatch: {reserved} {name} reserved for {}, not for {role}; {shortage}",
                reserved_for.join(",")
            ),
        }
    }
}

/// Why one agent's offers cannot host a TaskManager, naming the agent.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentUnfit {
    /// The agent.
    pub agent_id: AgentId,
    /// Its hostname.
    pub hostname: String,
    /// Why.
    pub unfit: Unfit,
}

impl fmt::Display for AgentUnfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "agent {} ({}): {}",
            self.hostname, self.agent_id, self.unfit
        )
    }
}

/// A resource reserved for another role than the framework's, kept only to explain a
/// shortage it would have covered.
#[derive(Debug, Clone)]
struct Foreign {
    name: String,
    /// Scalar value, or number of ports.
    amount: f64,
    role: String,
}

/// A pooled resource and the index of the offer it came from.
#[derive(Debug, Clone)]
struct Entry {
    offer: usize,
    resource: Resource,
}

/// The usable resources left in the offers of one agent.
#[derive(Debug, Clone)]
pub struct ResourcePool {
    hostname: String,
    attributes: Vec<Attribute>,
    offer_ids: Vec<OfferId>,
    used: Vec<bool>,
    entries: Vec<Entry>,
    role: String,
    foreign: Vec<Foreign>,
}

impl ResourcePool {
    /// Pools the offers of one agent for a framework of `role`; hostname and attributes come
    /// from the first offer. Resources the framework cannot use here are left out: reserved
    /// for another role, revocable, shared, persistent volumes and MOUNT/BLOCK/RAW disks.
    pub fn new<'a>(role: &str, offers: impl IntoIterator<Item = &'a Offer>) -> Self {
        let mut pool = Self {
            hostname: String::new(),
            attributes: Vec::new(),
            offer_ids: Vec::new(),
            used: Vec::new(),
            entries: Vec::new(),
            role: role.to_owned(),
            foreign: Vec::new(),
        };
        let mut unreserved = Vec::new();
        for (index, offer) in offers.into_iter().enumerate() {
            if index == 0 {
                pool.hostname = offer.hostname.clone();
                pool.attributes = offer.attributes.clone();
            }
            pool.offer_ids.push(offer.id.clone());
            pool.used.push(false);
            for resource in &offer.resources {
                let reserved = match usability(resource, role) {
                    Usability::Reserved => true,
                    Usability::Unreserved => false,
                    Usability::OtherRole(other) => {
                        pool.foreign.push(Foreign {
                            name: resource.name.clone(),
                            amount: amount(resource),
                            role: other.to_owned(),
                        });
                        continue;
                    }
                    Usability::Unusable => continue,
                };
                let mut resource = resource.clone();
                if resource.allocation_info.is_none() {
                    // MULTI_ROLE: the master requires the allocation role on every resource.
                    resource.allocation_info = offer.allocation_info.clone();
                }
                let entry = Entry {
                    offer: index,
                    resource,
                };
                if reserved {
                    pool.entries.push(entry);
                } else {
                    unreserved.push(entry);
                }
            }
        }
        pool.entries.extend(unreserved);
        pool
    }

    /// The agent's hostname.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// The usable amount left of the scalar `name`.
    pub fn scalar(&self, name: &str) -> f64 {
        self.entries_named(name)
            .filter_map(|entry| entry.resource.scalar_value())
            .filter(|value| *value > 0.0)
            // Not `sum()`: the empty sum of floats is -0.0, which prints as `-0`.
            .fold(0.0, |total, value| total + value)
    }

    /// The number of usable ports left.
    pub fn port_count(&self) -> u64 {
        self.entries_named(PORTS)
            .filter_map(|entry| entry.resource.ranges.as_ref())
            .flat_map(|ranges| &ranges.range)
            .filter_map(|range| usable_ports(*range))
            .map(|(begin, end)| end - begin + 1)
            .sum()
    }

    /// Whether the agent meets every constraint; the first one it does not is the error.
    pub fn check_constraints(&self, constraints: &[HostConstraint]) -> Result<(), Mismatch> {
        match unmet_constraint(&self.hostname, &self.attributes, constraints) {
            Some(unfit) => Err(unfit.into_mismatch(&self.hostname)),
            None => Ok(()),
        }
    }

    /// Checks that the pool can host `requirements`, then takes the resources: scalars in the
    /// order cpus, gpus, mem, disk, network (each only if > 0), then one port per port key,
    /// assigned in key order. On a mismatch the pool is unchanged.
    pub fn carve(&mut self, requirements: &TaskRequirements) -> Result<MatchedResources, Mismatch> {
        self.try_carve(requirements)
            .map_err(|unfit| unfit.into_mismatch(&self.hostname))
    }

    /// [`ResourcePool::carve`], with the reason it does not fit as an [`Unfit`].
    pub fn try_carve(
        &mut self,
        requirements: &TaskRequirements,
    ) -> Result<MatchedResources, Unfit> {
        if let Some(unfit) = self.unfit(requirements) {
            return Err(unfit);
        }
        let wanted_ports = requirements.port_keys.len();
        let mut resources = Vec::new();
        for (name, wanted) in requirements.scalars() {
            if wanted > 0.0 {
                self.take_scalar(name, wanted, &mut resources);
            }
        }
        let ports = self.take_ports(wanted_ports, &mut resources);
        let ports = requirements.port_keys.iter().cloned().zip(ports).collect();
        self.entries.retain(|entry| !is_exhausted(&entry.resource));
        Ok(MatchedResources { resources, ports })
    }

    /// Why the pool cannot host `requirements`: the first unmet constraint, else the first
    /// resource short in the order they are taken; `None` if it fits.
    pub fn unfit(&self, requirements: &TaskRequirements) -> Option<Unfit> {
        if let Some(unfit) =
            unmet_constraint(&self.hostname, &self.attributes, &requirements.constraints)
        {
            return Some(unfit);
        }
        for (name, wanted) in requirements.scalars() {
            let offered = self.scalar(name);
            if wanted > 0.0 && offered < wanted - EPSILON {
                let shortage = Unfit::Scalar {
                    name: name.to_owned(),
                    wanted,
                    offered,
                };
                return Some(self.explain_shortage(name, wanted, offered, shortage));
            }
        }
        let wanted = requirements.port_keys.len();
        let offered = self.port_count();
        if (wanted as u64) > offered {
            let shortage = Unfit::Ports { wanted, offered };
            return Some(self.explain_shortage(PORTS, wanted as f64, offered as f64, shortage));
        }
        None
    }

    /// A role mismatch when what is reserved for other roles would have covered the shortage
    /// of `name` (so the fix is the role, not a bigger agent), else `shortage` itself.
    fn explain_shortage(&self, name: &str, wanted: f64, offered: f64, shortage: Unfit) -> Unfit {
        let foreign = self.foreign.iter().filter(|foreign| foreign.name == name);
        let reserved = foreign
            .clone()
            .fold(0.0, |total, foreign| total + foreign.amount);
        if reserved <= 0.0 || offered + reserved < wanted - EPSILON {
            return shortage;
        }
        let mut reserved_for: Vec<String> = foreign.map(|foreign| foreign.role.clone()).collect();
        reserved_for.sort();
        reserved_for.dedup();
        Unfit::Role {
            name: name.to_owned(),
            role: self.role.clone(),
            reserved_for,
            reserved,
            shortage: Box::new(shortage),
        }
    }

    /// The offers at least one carved resource came from, in offer order.
    pub fn used_offers(&self) -> Vec<OfferId> {
        self.offer_ids
            .iter()
            .zip(&self.used)
            .filter(|(_, used)| **used)
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn entries_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries
            .iter()
            .filter(move |entry| entry.resource.name == name)
    }

    /// Flink's `takeScalar`: takes from resources in pool order, splitting the last one.
    fn take_scalar(&mut self, name: &str, amount: f64, out: &mut Vec<Resource>) {
        let mut remaining = amount;
        for entry in &mut self.entries {
            if remaining < EPSILON {
                break;
            }
            let Some(scalar) = entry.resource.scalar.as_mut() else {
                continue;
            };
            if entry.resource.name != name || scalar.value < EPSILON {
                continue;
            }
            let mut taken = remaining.min(scalar.value);
            let mut left = scalar.value - taken;
            if left < EPSILON {
                // Take the dust too rather than leave an unusable remainder.
                taken = scalar.value;
                left = 0.0;
            }
            scalar.value = left;
            remaining -= taken;
            self.used[entry.offer] = true;
            let mut carved = entry.resource.clone();
            carved.scalar = Some(strom_mesos::types::Scalar { value: taken });
            out.push(carved);
        }
    }

    /// Flink's `takeRanges`: takes `count` ports from the lowest end of the ranges in pool
    /// order, keeping the rest of each range; returns the ports in the order taken.
    fn take_ports(&mut self, count: usize, out: &mut Vec<Resource>) -> Vec<u16> {
        let mut ports = Vec::with_capacity(count);
        for entry in &mut self.entries {
            if ports.len() == count {
                break;
            }
            if entry.resource.name != PORTS {
                continue;
            }
            let Some(ranges) = entry.resource.ranges.as_mut() else {
                continue;
            };
            let mut taken = Vec::new();
            let mut kept = Vec::new();
            for range in ranges.range.drain(..) {
                let need = (count - ports.len()) as u64;
                let Some((begin, end)) = usable_ports(range).filter(|_| need > 0) else {
                    kept.push(range);
                    continue;
                };
                let last = end.min(begin + need - 1);
                taken.push(Range { begin, end: last });
                ports.extend((begin..=last).filter_map(|port| u16::try_from(port).ok()));
                if range.begin < begin {
                    kept.push(Range {
                        begin: range.begin,
                        end: begin - 1,
                    });
                }
                if last < range.end {
                    kept.push(Range {
                        begin: last + 1,
                        end: range.end,
                    });
                }
            }
            ranges.range = kept;
            if !taken.is_empty() {
                self.used[entry.offer] = true;
                let mut carved = entry.resource.clone();
                carved.ranges = Some(Ranges { range: taken });
                out.push(carved);
            }
        }
        ports
    }
}

/// Matches one offer alone against `requirements` (a pool of that single offer).
pub fn match_offer(
    role: &str,
    offer: &Offer,
    requirements: &TaskRequirements,
) -> Result<MatchedResources, Mismatch> {
    ResourcePool::new(role, [offer]).carve(requirements)
}

/// The first of `constraints` the agent `hostname` with `attributes` does not meet.
fn unmet_constraint(
    hostname: &str,
    attributes: &[Attribute],
    constraints: &[HostConstraint],
) -> Option<Unfit> {
    constraints.iter().find_map(|constraint| {
        let actual = if constraint.attribute == HOSTNAME_ATTRIBUTE {
            Some(hostname.to_owned())
        } else {
            attributes
                .iter()
                .find(|attribute| attribute.name == constraint.attribute)
                .map(attribute_text)
        };
        let met = actual
            .as_deref()
            .is_some_and(|actual| attribute_equals(actual, &constraint.value));
        (!met).then(|| Unfit::Constraint {
            attribute: constraint.attribute.clone(),
            wanted: constraint.value.clone(),
            actual,
        })
    })
}

/// Whether a framework of some role can use a resource.
enum Usability<'a> {
    /// Reserved for the role or an ancestor: used first.
    Reserved,
    /// Unreserved (`*`).
    Unreserved,
    /// Reserved for this other role.
    OtherRole(&'a str),
    /// Of a kind a TaskManager never takes.
    Unusable,
}

/// A resource's amount for explaining shortages: the scalar, or the number of ports.
fn amount(resource: &Resource) -> f64 {
    match (&resource.scalar, &resource.ranges) {
        (Some(scalar), _) => scalar.value.max(0.0),
        (None, Some(ranges)) => ranges
            .range
            .iter()
            .filter_map(|range| usable_ports(*range))
            .map(|(begin, end)| (end - begin + 1) as f64)
            .sum(),
        (None, None) => 0.0,
    }
}

/// Whether a framework of `role` can use the resource.
fn usability<'a>(resource: &'a Resource, role: &str) -> Usability<'a> {
    let other = &resource.other;
    if other.contains_key("revocable") || other.contains_key("shared") {
        return Usability::Unusable;
    }
    if let Some(disk) = other.get("disk") {
        // A persistent volume needs a volume mapping and a MOUNT/BLOCK/RAW disk must be taken
        // whole; a TaskManager wants neither.
        let source = disk.pointer("/source/type").and_then(|kind| kind.as_str());
        if disk.get("persistence").is_some() || source.is_some_and(|kind| kind != "PATH") {
            return Usability::Unusable;
        }
    }
    match (resource.kind.clone(), resource.reserved_role()) {
        (ValueType::Scalar | ValueType::Ranges, None) => Usability::Unreserved,
        (ValueType::Scalar | ValueType::Ranges, Some(reserved)) => {
            let ancestor = role
                .strip_prefix(reserved)
                .is_some_and(|rest| rest.starts_with('/'));
            if reserved == role || ancestor {
                Usability::Reserved
            } else {
                Usability::OtherRole(reserved)
            }
        }
        _ => Usability::Unusable,
    }
}

/// The part of a range a port can be assigned from: 1..=65535, `None` if empty.
fn usable_ports(range: Range) -> Option<(u64, u64)> {
    let begin = range.begin.max(1);
    let end = range.end.min(u64::from(u16::MAX));
    (begin <= end).then_some((begin, end))
}

fn is_exhausted(resource: &Resource) -> bool {
    match (&resource.scalar, &resource.ranges) {
        (Some(scalar), _) => scalar.value < EPSILON,
        (None, Some(ranges)) => ranges.range.is_empty(),
        (None, None) => true,
    }
}

/// The attribute's value as text: TEXT as is, SCALAR as a number (`rack:3` is a scalar
/// attribute in Mesos), SET and RANGES in Mesos' notation.
fn attribute_text(attribute: &Attribute) -> String {
    if let Some(text) = &attribute.text {
        return text.value.clone();
    }
    if let Some(scalar) = attribute.scalar {
        return scalar.value.to_string();
    }
    if let Some(set) = &attribute.set {
        return format!("{{{}}}", set.item.join(","));
    }
    if let Some(ranges) = &attribute.ranges {
        let ranges: Vec<String> = ranges
            .range
            .iter()
            .map(|range| format!("{}-{}", range.begin, range.end))
            .collect();
        return format!("[{}]", ranges.join(","));
    }
    String::new()
}

/// Text equality, or numeric equality when both sides are numbers (`3` equals `3.0`).
fn attribute_equals(actual: &str, wanted: &str) -> bool {
    if actual == wanted {
        return true;
    }
    match (actual.parse::<f64>(), wanted.parse::<f64>()) {
        (Ok(actual), Ok(wanted)) => (actual - wanted).abs() < EPSILON,
        _ => false,
    }
}

#[cfg(test)]
pub(crate) mod tests;
