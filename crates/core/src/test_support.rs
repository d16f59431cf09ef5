//! Builders the core's unit tests share: a rep with its load, and a team.

use crate::ids::{RepId, TeamId};
use crate::model::{Level, Rep, Role, Team};
use crate::strategy::{RepLoad, RepState};

/// An active mid-level rep of `team`, no skills, weight 1, with `capacity` and no load yet.
pub(crate) fn rep_state(id: &str, team: &str, capacity: Option<u32>) -> RepState {
    RepState {
        rep: Rep {
            id: RepId::parse(id).unwrap(),
            name: id.to_string(),
            email: String::new(),
            team_id: Some(TeamId::parse(team).unwrap()),
            role: Role::Rep,
            level: Level::Mid,
            capacity,
            weight: 1.0,
            skills: vec![],
            active: true,
            absent_from: None,
            absent_until: None,
        },
        load: RepLoad::default(),
    }
}

/// A team named as its id, without a manager.
pub(crate) fn team(id: &str, parent: Option<&str>) -> Team {
    Team {
        id: TeamId::parse(id).unwrap(),
        name: id.to_string(),
        parent_id: parent.map(|parent| TeamId::parse(parent).unwrap()),
        manager_id: None,
    }
}
