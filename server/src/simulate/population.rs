//! The simulated users and what their apps' reporters count in a round: the
//! npm reporter's rules (exposures once per user per stage and cohort; only
//! `SPLIT` answers), with a seeded random stream.

use super::*;

/// SplitMix64 (Steele, Lea and Flood, 2014): tiny, fast, and the same stream
/// for the same seed everywhere, which is all a simulation needs.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        // 53 random bits: a uniform float in [0, 1).
        ((self.next_u64() >> 11) as f64) * (1.0 / (1u64 << 53) as f64) < p
    }
}

/// What goes wrong per session, by cohort: index 0 in the rollout, 1 the control.
#[derive(Clone, Copy, Debug)]
pub struct Rates {
    pub crash: [f64; 2],
    pub sync_failure: [f64; 2],
}

/// The counts of one stage and cohort, in the order of `EVENTS`.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub stage: String,
    pub in_rollout: bool,
    pub counts: [u64; 5],
}

/// What every app's reporter counted in one round.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    pub rows: Vec<Row>,
}

impl Tally {
    /// The row of a stage and cohort (few of them: a linear search is the fastest).
    fn row(&mut self, stage: &str, in_rollout: bool) -> &mut [u64; 5] {
        let at = match self
            .rows
            .iter()
            .position(|r| r.in_rollout == in_rollout && r.stage == stage)
        {
            Some(at) => at,
            None => {
                self.rows.push(Row {
                    stage: stage.to_string(),
                    in_rollout,
                    counts: [0; 5],
                });
                self.rows.len() - 1
            }
        };
        &mut self.rows[at].counts
    }

    /// One event's count in one cohort, over every stage.
    pub fn total(&self, in_rollout: bool, event: &str) -> u64 {
        let Some(index) = EVENTS.iter().position(|e| *e == event) else {
            return 0;
        };
        self.rows
            .iter()
            .filter(|r| r.in_rollout == in_rollout)
            .map(|r| r.counts[index])
            .sum()
    }

    /// The wire items (`POST /api/metrics`), one per non-zero count.
    pub fn items<'a>(&'a self, rollout: &'a str, environment: &'a str) -> Vec<Item<'a>> {
        let mut items = Vec::new();
        for row in &self.rows {
            for (event, &count) in EVENTS.iter().zip(&row.counts) {
                // A count over the wire's limit goes as several items.
                let mut left = count;
                while left > 0 {
                    let piece = left.min(u64::from(u32::MAX));
                    left -= piece;
                    items.push(Item {
                        rollout,
                        environment,
                        stage: &row.stage,
                        in_rollout: row.in_rollout,
                        event,
                        count: piece,
                    });
                }
            }
        }
        items
    }
}

/// One reported count, as the wire carries it.
pub use crate::metrics::Count as Item;

/// Request bodies of at most `MAX_ITEMS` items each.
pub fn bodies(items: &[Item]) -> Vec<Bytes> {
    items
        .chunks(MAX_ITEMS)
        .filter_map(|chunk| serde_json::to_vec(&serde_json::json!({ "counts": chunk })).ok())
        .map(Bytes::from)
        .collect()
}

/// The simulated users and what the reporters remember between rounds.
pub struct Population {
    users: u32,
    sessions_per_user: u32,
    rates: Rates,
    /// (stage, cohort) → which users were already counted as exposed there.
    exposed: Vec<(String, bool, Vec<bool>)>,
    rng: Rng,
}

impl Population {
    pub fn new(users: u32, sessions_per_user: u32, rates: Rates, seed: u64) -> Population {
        Population {
            users,
            sessions_per_user,
            rates,
            exposed: Vec::new(),
            rng: Rng::new(seed),
        }
    }

    /// One round of every user's sessions under `evaluator`, counted as the npm
    /// reporter counts them: only answers with reason SPLIT (include and exclude
    /// lists and constraints pick units by hand, which is no random sample);
    /// an exposure once per user per stage and cohort.
    pub fn round(&mut self, evaluator: &Evaluator, rollout: &str, environment: &str) -> Tally {
        let mut tally = Tally::default();
        let mut key = String::new();
        for user in 0..self.users {
            key.clear();
            let _ = write!(key, "user-{user}");
            let evaluation = evaluator.evaluate_with(rollout, environment, &KeyOnly(&key));
            let (Reason::Split, Some(stage)) = (evaluation.reason, evaluation.stage.as_deref())
            else {
                continue;
            };
            let in_rollout = evaluation.in_rollout;
            let first_time = self.expose(stage, in_rollout, user);
            let cohort = usize::from(!in_rollout);
            let mut counts = [0; 5];
            counts[EXPOSURE] = u64::from(first_time);
            for _ in 0..self.sessions_per_user {
                counts[SESSION] += 1;
                counts[CRASH] += u64::from(self.rng.chance(self.rates.crash[cohort]));
                for _ in 0..SYNC_OPERATIONS_PER_SESSION {
                    counts[SYNC_OPERATION] += 1;
                    counts[SYNC_FAILURE] +=
                        u64::from(self.rng.chance(self.rates.sync_failure[cohort]));
                }
            }
            let row = tally.row(stage, in_rollout);
            for (total, count) in row.iter_mut().zip(counts) {
                *total += count;
            }
        }
        tally
    }

    /// Marks `user` exposed at (stage, cohort); whether that is news.
    fn expose(&mut self, stage: &str, in_rollout: bool, user: u32) -> bool {
        let at = match self
            .exposed
            .iter()
            .position(|(s, i, _)| *i == in_rollout && s == stage)
        {
            Some(at) => at,
            None => {
                let size = usize::try_from(self.users).unwrap_or(usize::MAX);
                self.exposed
                    .push((stage.to_string(), in_rollout, vec![false; size]));
                self.exposed.len() - 1
            }
        };
        let seen = &mut self.exposed[at].2;
        let index = usize::try_from(user).unwrap_or(usize::MAX);
        match seen.get_mut(index) {
            Some(flag) if !*flag => {
                *flag = true;
                true
            }
            _ => false,
        }
    }
}

/// What the client document says of the rollout in the environment.
#[derive(Clone, Debug, PartialEq)]
pub struct Live {
    pub stage: Option<String>,
    /// The active stage's percentage in basis points.
    pub basis_points: u16,
    pub kill_switch: bool,
    pub revision: u64,
}

impl Live {
    pub fn of(evaluator: &Evaluator, rollout: &str, environment: &str) -> Result<Live, String> {
        let plan = evaluator.plan();
        let found = plan.rollouts.get(rollout).ok_or_else(|| {
            format!("--rollout: the client document of '{environment}' has no rollout '{rollout}'")
        })?;
        let env = found.environments.get(environment).ok_or_else(|| {
            format!("--env: rollout '{rollout}' has no environment '{environment}'")
        })?;
        let stage = env.active_stage.clone();
        let basis_points = stage
            .as_deref()
            .and_then(|id| found.stage(id))
            .and_then(|s| basis_points(&s.percentage))
            .unwrap_or(0);
        Ok(Live {
            stage,
            basis_points,
            kill_switch: env.kill_switch,
            revision: plan.revision,
        })
    }
}
