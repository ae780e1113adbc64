//! The client document: the public part of a plan that apps download.

use crate::json::Map;
use crate::model::{Environment, Flag, Plan, Rollout, Stage};

impl Plan {
    /// The public document apps download for one environment: everything evaluation
    /// needs there, nothing about people (no sign-offs, checklist, triggers or
    /// descriptions). `None` if no rollout has that environment.
    pub fn client_document(&self, environment: &str) -> Option<Plan> {
        let rollouts: Map<Rollout> = self
            .rollouts
            .iter()
            .filter_map(|(key, rollout)| {
                let env = rollout.environments.get(environment)?;
                Some((
                    key.clone(),
                    Rollout {
                        description: None,
                        salt: Some(rollout.salt(key).to_string()),
                        flags: rollout
                            .flags
                            .iter()
                            .map(|(name, flag)| {
                                (
                                    name.clone(),
                                    Flag {
                                        description: None,
                                        ..flag.clone()
                                    },
                                )
                            })
                            .collect(),
                        stages: rollout
                            .stages
                            .iter()
                            .map(|stage| Stage {
                                planned_for: None,
                                required_signoffs: Vec::new(),
                                monitoring: Vec::new(),
                                soak_hours: None,
                                auto_advance: false,
                                ..stage.clone()
                            })
                            .collect(),
                        environments: Map::from([(
                            environment.to_string(),
                            Environment {
                                rolled_back_at: None,
                                ..env.clone()
                            },
                        )]),
                        rollback_triggers: Vec::new(),
                        checklist: Vec::new(),
                    },
                ))
            })
            .collect();
        (!rollouts.is_empty()).then(|| Plan {
            schema_version: self.schema_version,
            revision: self.revision,
            rollouts,
            signoffs: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::signoff::tests::{default_plan, sign};

    #[cfg(feature = "serde")]
    #[test]
    fn the_client_document_keeps_what_evaluation_needs_and_nothing_about_people() {
        let mut plan = default_plan();
        sign(&mut plan, 0, "qa-lead");
        let production = plan.rollouts["domain-migration"]
            .environments
            .get_mut("production")
            .unwrap();
        production.active_stage = Some("stage-2".into());
        let client = plan.client_document("production").unwrap();
        let text = serde_json::to_string(&client).unwrap();
        for private in [
            "signoffs",
            "checklist",
            "rollbackTriggers",
            "requiredSignoffs",
            "monitoring",
            "soakHours",
            "autoAdvance",
            "someone",
            "staging",
        ] {
            assert!(!text.contains(private), "{private} in {text}");
        }
        let evaluator = crate::Evaluator::from_json(&text).unwrap();
        let full = crate::Evaluator::from_plan(plan).unwrap();
        let inside = (0..1000)
            .filter(|i| {
                evaluator
                    .evaluate(
                        "domain-migration",
                        "production",
                        &crate::Context::new(format!("user-{i}")),
                    )
                    .in_rollout
            })
            .count();
        assert!((200..300).contains(&inside), "{inside} of 1000 at 25%");
        for i in 0..1000 {
            let context = crate::Context::new(format!("user-{i}"));
            assert_eq!(
                evaluator.evaluate("domain-migration", "production", &context),
                full.evaluate("domain-migration", "production", &context)
            );
        }
        assert!(default_plan().client_document("qa").is_none());
    }
}
