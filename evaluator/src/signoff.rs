//! Whether sign-offs are current: a sign-off approves production's answers with
//! its stage live, as they were when it was signed (its `stage_digest`).

use crate::model::{Plan, Role, Signoff, Stage};

impl Plan {
    /// The roles `stage` (of `rollout`) requires that have no sign-off that
    /// counts (current, and recorded after production's last rollback).
    pub fn missing_signoffs(&self, rollout: &str, stage: &Stage) -> Vec<&'static str> {
        crate::gate::missing_signoffs(self, rollout, stage)
            .into_iter()
            .map(Role::name)
            .collect()
    }

    /// Whether `signoff` still approves production's answers with its stage live.
    pub fn is_current(&self, signoff: &Signoff) -> bool {
        self.rollouts.get(&signoff.rollout).is_some_and(|rollout| {
            rollout.stage(&signoff.stage).is_some_and(|stage| {
                crate::digest::stage_digest(&signoff.rollout, rollout, stage)
                    == signoff.stage_digest
            })
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::SIGNOFF_ROLES;

    pub(crate) fn default_plan() -> Plan {
        crate::parse_plan(include_str!("../../static/default-plan.json")).unwrap()
    }

    pub(crate) fn sign(plan: &mut Plan, stage: usize, role: &str) {
        let rollout = &plan.rollouts["domain-migration"];
        let stage = &rollout.stages[stage];
        plan.signoffs.push(Signoff {
            id: format!("{}-{role}", stage.id),
            rollout: "domain-migration".into(),
            stage: stage.id.clone(),
            role: role.into(),
            by: "someone".into(),
            at: "2026-11-24T10:00:00Z".into(),
            stage_digest: crate::digest::stage_digest("domain-migration", rollout, stage),
            revision: 0,
            comment: None,
        });
    }

    #[test]
    fn a_stage_lacks_each_role_until_signed_and_again_once_changed() {
        let mut plan = default_plan();
        let stage = plan.rollouts["domain-migration"].stages[0].clone();
        assert_eq!(
            plan.missing_signoffs("domain-migration", &stage),
            SIGNOFF_ROLES
        );
        sign(&mut plan, 0, "qa-lead");
        sign(&mut plan, 1, "devops-lead"); // another stage's sign-off does not count
        assert_eq!(
            plan.missing_signoffs("domain-migration", &stage),
            ["engineering-lead", "product-manager", "devops-lead"]
        );
        for role in ["engineering-lead", "product-manager", "devops-lead"] {
            sign(&mut plan, 0, role);
        }
        assert!(plan.missing_signoffs("domain-migration", &stage).is_empty());
        assert!(plan.signoffs.iter().all(|signoff| plan.is_current(signoff)));

        let mut changed = stage.clone();
        changed.percentage = 6.into();
        assert_eq!(
            plan.missing_signoffs("domain-migration", &changed),
            SIGNOFF_ROLES
        );
        // A rollback voids the sign-offs recorded before it.
        let production = plan
            .rollouts
            .get_mut("domain-migration")
            .unwrap()
            .environments
            .get_mut(crate::model::GATED_ENVIRONMENT)
            .unwrap();
        production.rolled_back_at = Some(3);
        assert_eq!(
            plan.missing_signoffs("domain-migration", &stage),
            SIGNOFF_ROLES
        );
    }
}
