//! Who is acting and what they may see: principals (admin, manager, rep), the reps a manager's
//! subtree holds, and the chain of managers that approves a transfer.

use std::collections::{BTreeSet, HashMap};

use crate::ids::{RepId, TeamId};
use crate::model::{Rep, Role, Team};

/// The caller of a command or request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An admin token (its public id) or the operator at the command line.
    Admin {
        token_id: String,
    },
    /// A rep with role manager: sees the customers of every rep in `subtree` (itself included).
    Manager {
        rep: RepId,
        subtree: BTreeSet<RepId>,
    },
    Rep {
        rep: RepId,
    },
    /// A scheduled job of `tick`.
    System {
        job: String,
    },
}

impl Principal {
    pub fn role(&self) -> Role {
        match self {
            Principal::Admin { .. } | Principal::System { .. } => Role::Admin,
            Principal::Manager { .. } => Role::Manager,
            Principal::Rep { .. } => Role::Rep,
        }
    }

    /// How the event log names this caller: `admin:<token id>`, `rep:r07`, `system:<job>`.
    pub fn actor(&self) -> String {
        match self {
            Principal::Admin { token_id } => format!("admin:{token_id}"),
            Principal::Manager { rep, .. } | Principal::Rep { rep } => format!("rep:{rep}"),
            Principal::System { job } => format!("system:{job}"),
        }
    }

    /// The rep acting, for managers and reps.
    pub fn rep(&self) -> Option<&RepId> {
        match self {
            Principal::Manager { rep, .. } | Principal::Rep { rep } => Some(rep),
            _ => None,
        }
    }

    /// The reps whose customers this caller sees; `None` is everyone's.
    pub fn visible_reps(&self) -> Option<BTreeSet<RepId>> {
        match self {
            Principal::Admin { .. } | Principal::System { .. } => None,
            Principal::Manager { subtree, .. } => Some(subtree.clone()),
            Principal::Rep { rep } => Some(BTreeSet::from([rep.clone()])),
        }
    }

    /// Whether this caller sees a rep's customers (and so may act for that rep).
    pub fn sees_rep(&self, rep: &RepId) -> bool {
        match self {
            Principal::Admin { .. } | Principal::System { .. } => true,
            Principal::Manager { subtree, .. } => subtree.contains(rep),
            Principal::Rep { rep: own } => own == rep,
        }
    }

    /// Whether a customer with this owner is in view: the pool is everyone's.
    pub fn sees_owner(&self, owner: Option<&RepId>) -> bool {
        owner.is_none_or(|owner| self.sees_rep(owner))
    }

    pub fn is_admin(&self) -> bool {
        self.role() == Role::Admin
    }
}

/// The reps in the subtree of the teams `manager` manages: their members, the members of every
/// team below them, those teams' managers, and the manager itself.
pub fn managed_subtree(manager: &RepId, teams: &[Team], reps: &[Rep]) -> BTreeSet<RepId> {
    let mut children: HashMap<&TeamId, Vec<&Team>> = HashMap::new();
    for team in teams {
        if let Some(parent) = &team.parent_id {
            children.entry(parent).or_default().push(team);
        }
    }
    let mut subtree_teams: BTreeSet<&TeamId> = BTreeSet::new();
    let mut waiting: Vec<&Team> = teams
        .iter()
        .filter(|team| team.manager_id.as_ref() == Some(manager))
        .collect();
    // A team tree with a cycle (parents are checked on import, but not every write path can
    // see the whole tree) must not loop forever: each team is entered once.
    while let Some(team) = waiting.pop() {
        if !subtree_teams.insert(&team.id) {
            continue;
        }
        waiting.extend(children.get(&team.id).into_iter().flatten().copied());
    }
    let mut subtree: BTreeSet<RepId> = reps
        .iter()
        .filter(|rep| {
            rep.team_id
                .as_ref()
                .is_some_and(|team| subtree_teams.contains(team))
        })
        .map(|rep| rep.id.clone())
        .collect();
    subtree.extend(
        teams
            .iter()
            .filter(|team| subtree_teams.contains(&team.id))
            .filter_map(|team| team.manager_id.clone()),
    );
    subtree.insert(manager.clone());
    subtree
}

/// The manager above a rep: the manager of the rep's team, or, when the rep manages that team
/// itself (or it has none), of the nearest team above it that has another manager.
pub fn manager_above(rep: &RepId, teams: &[Team], reps: &[Rep]) -> Option<RepId> {
    let by_id: HashMap<&TeamId, &Team> = teams.iter().map(|team| (&team.id, team)).collect();
    let mut team = reps
        .iter()
        .find(|candidate| &candidate.id == rep)
        .and_then(|rep| rep.team_id.as_ref())
        .and_then(|team| by_id.get(team).copied());
    let mut steps = 0;
    while let Some(current) = team {
        if let Some(manager) = &current.manager_id {
            if manager != rep {
                return Some(manager.clone());
            }
        }
        steps += 1;
        if steps > teams.len() {
            return None;
        }
        team = current
            .parent_id
            .as_ref()
            .and_then(|parent| by_id.get(parent).copied());
    }
    None
}

/// The approvers of a transfer from `from`, in order, `levels` deep; `None` at a level means no
/// manager is there to approve and an admin must.
pub fn approval_chain(
    from: &RepId,
    levels: usize,
    teams: &[Team],
    reps: &[Rep],
) -> Vec<Option<RepId>> {
    let mut chain = Vec::with_capacity(levels);
    let mut below = Some(from.clone());
    for _ in 0..levels {
        let approver = below
            .as_ref()
            .and_then(|rep| manager_above(rep, teams, reps));
        chain.push(approver.clone());
        below = approver;
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Level;

    fn team(id: &str, parent: Option<&str>, manager: Option<&str>) -> Team {
        Team {
            id: TeamId::parse(id).unwrap(),
            name: id.to_string(),
            parent_id: parent.map(|parent| TeamId::parse(parent).unwrap()),
            manager_id: manager.map(|manager| RepId::parse(manager).unwrap()),
        }
    }

    fn rep(id: &str, team: &str) -> Rep {
        Rep {
            id: RepId::parse(id).unwrap(),
            name: id.to_string(),
            email: String::new(),
            team_id: Some(TeamId::parse(team).unwrap()),
            role: Role::Rep,
            level: Level::Mid,
            capacity: None,
            weight: 1.0,
            skills: vec![],
            active: true,
            absent_from: None,
            absent_until: None,
        }
    }

    fn organisation() -> (Vec<Team>, Vec<Rep>) {
        // sales (director d) ─┬─ east (manager e) ─ south-east (manager s)
        //                     └─ west (manager w)
        let teams = vec![
            team("sales", None, Some("d")),
            team("east", Some("sales"), Some("e")),
            team("southeast", Some("east"), Some("s")),
            team("west", Some("sales"), Some("w")),
        ];
        let reps = vec![
            rep("d", "sales"),
            rep("e", "east"),
            rep("e1", "east"),
            rep("s", "southeast"),
            rep("s1", "southeast"),
            rep("w", "west"),
            rep("w1", "west"),
        ];
        (teams, reps)
    }

    fn ids(list: &[&str]) -> BTreeSet<RepId> {
        list.iter().map(|id| RepId::parse(id).unwrap()).collect()
    }

    #[test]
    fn a_manager_sees_the_subtree_of_the_teams_it_manages() {
        let (teams, reps) = organisation();
        let check = |manager: &str, expected: &[&str]| {
            let subtree = managed_subtree(&RepId::parse(manager).unwrap(), &teams, &reps);
            assert_eq!(subtree, ids(expected), "{manager}");
        };
        check("e", &["e", "e1", "s", "s1"]);
        check("s", &["s", "s1"]);
        check("d", &["d", "e", "e1", "s", "s1", "w", "w1"]);
        check("w1", &["w1"]);
    }

    #[test]
    fn approvers_climb_the_team_tree() {
        let (teams, reps) = organisation();
        let check = |from: &str, levels: usize, expected: &[Option<&str>]| {
            let chain = approval_chain(&RepId::parse(from).unwrap(), levels, &teams, &reps);
            let expected: Vec<Option<RepId>> = expected
                .iter()
                .map(|id| id.map(|id| RepId::parse(id).unwrap()))
                .collect();
            assert_eq!(chain, expected, "{from} {levels}");
        };
        check("s1", 1, &[Some("s")]);
        check("s1", 2, &[Some("s"), Some("e")]);
        check("s", 2, &[Some("e"), Some("d")]);
        check("w1", 2, &[Some("w"), Some("d")]);
        check("d", 1, &[None]);
        check("e1", 3, &[Some("e"), Some("d"), None]);
    }

    #[test]
    fn principals_see_their_own_and_the_pool() {
        let rep = Principal::Rep {
            rep: RepId::parse("r1").unwrap(),
        };
        let other = RepId::parse("r2").unwrap();
        assert!(rep.sees_owner(None));
        assert!(rep.sees_owner(Some(&RepId::parse("r1").unwrap())));
        assert!(!rep.sees_owner(Some(&other)));
        assert_eq!(rep.actor(), "rep:r1");
        let admin = Principal::Admin {
            token_id: "abc".to_string(),
        };
        assert!(admin.sees_owner(Some(&other)));
        assert_eq!(admin.actor(), "admin:abc");
        assert_eq!(admin.visible_reps(), None);
    }
}
