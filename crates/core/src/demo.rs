//! Deterministic demo and benchmark organisations: teams, reps, customers and a rules file.
//!
//! Generated from a seed by a small built-in PRNG (SplitMix64), so the same seed always gives
//! byte-identical data and the crate needs no `rand` dependency.

use chrono::{Duration, NaiveDate};
use std::collections::BTreeMap;

use crate::activity::{
    Interaction, InteractionKind, Ticket, TicketKind, TicketSeverity, Transaction,
};
use crate::clock::Clock;
use crate::contact::{CreditCode, Email, Phone};
use crate::customer::{Customer, Workload};
use crate::ids::{CustomerId, Region, RepId, TeamId};
use crate::model::{Level, Rep, Role, Team};
use crate::money::Money;
use crate::vocabulary::{StageName, TierName};

/// A whole organisation ready to import: teams, reps, customers (all in the pool) and rules.
pub struct DemoOrganisation {
    pub teams: Vec<Team>,
    pub reps: Vec<Rep>,
    pub customers: Vec<Customer>,
    pub rules_toml: String,
}

/// SplitMix64: tiny, fast, and good enough for generating plausible data; its stream depends
/// only on the seed (the optimiser's seeded networks use it too).
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        mixed ^ (mixed >> 31)
    }

    /// A value in `0..bound` (0 when `bound` is 0); the modulo bias is negligible for the
    /// small bounds used here.
    pub(crate) fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const REGIONS: &[&str] = &[
    "上海/浦东",
    "上海/徐汇",
    "上海/闵行",
    "浙江/杭州/西湖",
    "浙江/杭州/滨江",
    "浙江/宁波/鄞州",
    "江苏/南京/鼓楼",
    "江苏/苏州/工业园区",
    "广东/深圳/南山",
    "广东/深圳/福田",
    "广东/广州/天河",
    "广东/东莞",
    "福建/厦门/思明",
    "北京/朝阳",
    "北京/海淀",
    "天津/滨海",
    "河北/石家庄",
    "四川/成都/武侯",
    "湖北/武汉/洪山",
    "陕西/西安/雁塔",
    "山东/青岛/市南",
    "广东省/佛山",
];
const INDUSTRIES: &[&str] = &["金融", "制造", "零售", "互联网", "医疗", "教育", "物流"];
const SKILLS: &[&str] = &["金融", "制造", "零售", "互联网", "医疗", "英语"];
const STAGES: &[&str] = &["线索", "商机", "成交", "流失"];
const SOURCES: &[&str] = &["官网", "展会", "转介绍", "电话"];
const PRODUCT_LINES: &[&str] = &["CRM", "ERP", "BI", "SCM"];
const NAME_WORDS: &[&str] = &[
    "云帆", "星河", "华信", "金桥", "东方", "瑞丰", "远航", "天成", "宏图", "锦程", "汇通", "德昌",
    "新元", "安泰", "恒达", "博远", "嘉禾", "长青", "启明", "united",
];
const NAME_SUFFIXES: &[&str] = &["科技", "贸易", "制造", "实业", "信息技术", "医药", "物流"];
const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙",
];
const GIVEN_NAMES: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "涛", "明", "超", "霞",
];

/// Characters a synthetic brand is spelled with.
const BRAND_CHARACTERS: &[char] = &[
    '瑞', '祥', '恒', '泰', '鑫', '宏', '嘉', '隆', '昌', '盛', '凯', '翔', '晟', '铭', '锐', '丰',
    '源', '兴', '峰', '澜', '睿', '拓', '诚', '柏',
];

/// A brand of five characters, different for every customer index below 24^5 (7.9 million):
/// one length for all, so no brand and the word after it spell another's.
fn brand(index: usize) -> String {
    let base = BRAND_CHARACTERS.len();
    let mut rest = index;
    (0..5)
        .map(|_| {
            let character = BRAND_CHARACTERS[rest % base];
            rest /= base;
            character
        })
        .collect()
}

/// Eight digits that differ for every index below 100 million (a multiplication by a number
/// prime to 10^8 is a permutation of the residues).
fn unique_phone_digits(index: usize) -> u64 {
    (index as u64).wrapping_mul(7_919).wrapping_add(1_234_567) % 100_000_000
}

fn team(id: &str, name: &str, parent: Option<&str>, manager: Option<&str>) -> Team {
    Team {
        id: TeamId::parse(id).expect("demo team ids are valid"),
        name: name.to_string(),
        parent_id: parent.map(|parent| TeamId::parse(parent).expect("valid")),
        manager_id: manager.map(|manager| RepId::parse(manager).expect("valid")),
    }
}

fn rep_name(random: &mut SplitMix64) -> String {
    format!(
        "{}{}{}",
        random.pick(SURNAMES),
        random.pick(GIVEN_NAMES),
        random.pick(GIVEN_NAMES)
    )
}

fn random_level(random: &mut SplitMix64) -> Level {
    match random.below(10) {
        0..=2 => Level::Junior,
        3..=6 => Level::Mid,
        _ => Level::Senior,
    }
}

fn random_skills(random: &mut SplitMix64) -> Vec<String> {
    let mut skills: Vec<String> = SKILLS
        .iter()
        .filter(|_| random.chance(25))
        .map(|skill| skill.to_string())
        .collect();
    skills.sort();
    skills
}

/// Customers `c00001…`, all unowned, created over the 330 days from `start` in id order so
/// parents come first.
fn generate_customers(
    random: &mut SplitMix64,
    count: usize,
    reps: &[Rep],
    start: NaiveDate,
) -> Vec<Customer> {
    let width = count.to_string().len().max(5);
    let mut customers: Vec<Customer> = Vec::with_capacity(count);
    for index in 0..count {
        let id = CustomerId::parse(&format!("c{:0width$}", index + 1)).expect("valid id");
        let mut customer = Customer::new(id);
        let region = *random.pick(REGIONS);
        let city = region.split('/').nth(1).unwrap_or(region);
        // A brand of its own per customer: synthetic names that coincide would be duplicates
        // of each other (撞单) and never be routed.
        customer.name = format!(
            "{city}{}{}{}有限公司",
            brand(index),
            random.pick(NAME_WORDS),
            random.pick(NAME_SUFFIXES)
        );
        customer.region = Region::parse(region).expect("valid region");
        customer.industry = random.pick(INDUSTRIES).to_string();
        let (customer_type, size) = match random.below(10) {
            0..=2 => ("enterprise", 500 + random.below(20_000) as u64),
            3..=8 => ("smb", 5 + random.below(500) as u64),
            _ => ("individual", 1),
        };
        customer.customer_type = customer_type.to_string();
        customer.size = if random.chance(10) { None } else { Some(size) };
        customer.stage = Some(StageName::from_stored(*random.pick(STAGES)));
        customer.source = random.pick(SOURCES).to_string();
        let (tier, workload) = match random.below(10) {
            0 => ("A", "3"),
            1..=3 => ("B", "2"),
            _ => ("C", "1"),
        };
        customer.tier = Some(TierName::from_stored(tier));
        customer.workload = Workload::parse("workload", workload).expect("a valid workload");
        if random.chance(20) && !reps.is_empty() {
            customer.first_touch_rep_id = Some(random.pick(reps).id.clone());
        }
        if index > 10 && random.chance(5) {
            customer.parent_id = Some(customers[random.below(index)].id.clone());
        }
        // Drawn as before, so the rest of the organisation stays as it was; the number itself
        // follows the index, so no two customers share one.
        let _ = random.below(100_000_000);
        customer.phone = Some(
            Phone::parse("phone", &format!("138{:08}", unique_phone_digits(index)))
                .expect("a valid phone number"),
        );
        customer.email = Some(
            Email::parse("email", &format!("contact{}@example.cn", index + 1))
                .expect("a valid address"),
        );
        customer.credit_code = CreditCode::with_check_character(&format!(
            "91{:06}MA{:07}",
            random.below(1_000_000),
            random.below(10_000_000)
        ));
        let day = (index as i64 * 330) / count.max(1) as i64;
        customer.created_at = Some(
            (start + Duration::days(day))
                .and_hms_opt(9, 0, 0)
                .expect("valid time")
                .and_utc(),
        );
        let revenue = size.saturating_mul(20_000 + random.below(80_000) as u64);
        let mut attributes = BTreeMap::new();
        attributes.insert("annual_revenue".to_string(), revenue.to_string());
        let lines: Vec<&str> = PRODUCT_LINES
            .iter()
            .copied()
            .filter(|_| random.chance(35))
            .collect();
        if !lines.is_empty() {
            attributes.insert("product_lines".to_string(), lines.join("|"));
        }
        customer.attributes = attributes;
        customers.push(customer);
    }
    customers
}

const DEMO_RULES: &str = r#"# Allot demo rules (分配规则). The first matching rule wins; order matters.

# 首问负责: a referred customer goes to the rep who first contacted it; without one, least loaded in hq.
[[rule]]
name = "转介绍首问负责"
when = 'source == "转介绍" and tier != "A"'
to = { team = "hq" }
strategy = "first_touch"

# Key accounts in East China only to senior reps of the key-account group; if all are full or away,
# fall through to the next rules instead of waiting in the pool.
[[rule]]
name = "华东大客户"
when = 'tier == "A" and (region ^= "上海" or region ^= "浙江" or region ^= "江苏")'
to = { team = "east-ka" }
strategy = "least_loaded"
min_level = "senior"
fallthrough = true

# Large financial customers to the finance specialists, in turn.
[[rule]]
name = "金融行业大客户"
when = 'industry == "金融" and attr.annual_revenue >= 10000000'
to = { skill = "金融", team = "finance" }
strategy = "round_robin"

# Subsidiaries in Guangdong follow their parent account's owner.
[[rule]]
name = "华南集团子公司"
when = 'type == "enterprise" and region ^= "广东"'
to = { team = "south" }
strategy = "sticky"

# South China by weight: stronger reps take proportionally more.
[[rule]]
name = "华南区域"
when = 'region ^= "广东" or region ^= "福建"'
to = { team = "south" }
strategy = "weighted"

# North China in turn.
[[rule]]
name = "华北区域"
when = 'region in ["北京/朝阳", "北京/海淀"] or region ^= "天津" or region ^= "河北"'
to = { team = "north" }
strategy = "round_robin"

# The rest of East China to the SMB group, evenly by workload.
[[rule]]
name = "华东中小客户"
when = 'region ^= "上海" or region ^= "浙江" or region ^= "江苏"'
to = { team = "east-smb" }
strategy = "least_loaded"

# English-speaking reps for customers that use our BI line abroad-style deals.
[[rule]]
name = "BI产品线"
when = 'attr.product_lines contains "BI" and size >= 1000'
to = { skill = "英语" }
strategy = "least_loaded"

# Central and western China (华中、西南) in turn weighted by each rep's performance score: the
# stronger reps take more, up to four times the weakest, and nobody none.
[[rule]]
name = "华中西南区域"
when = 'region ^= "湖北" or region ^= "四川"'
to = { team = "hq" }
strategy = "performance"

# Explicit fallback (兜底): everyone else, least loaded across the whole company.
[[rule]]
name = "兜底"
when = 'true'
to = { team = "hq" }
strategy = "least_loaded"
"#;

/// The demo's value policy: the built-in tiers (A the top 20%, B the top half, C the rest) and
/// every other default, with service promises per tier on a Beijing business calendar, so the
/// demo's tickets have due times, breaches and escalations. The holidays are examples.
pub const DEMO_POLICY: &str = concat!(
    r#"# The demo organisation's policy: the default tiers, with service standards.
[[tier]]
name = "A"
top_percent = 20

[[tier]]
name = "B"
top_percent = 50

[[tier]]
name = "C"

[service]
new_customer_budget = 0.40
overload_threshold = 1.5

[service.calendar]
time_zone = "Asia/Shanghai"
working_hours = ["09:00-12:00", "13:30-18:00"]
working_days = ["mon", "tue", "wed", "thu", "fri"]
holidays = ["2026-10-01", "2026-10-02", "2026-10-05", "2026-10-06", "2026-10-07", "2027-01-01"]
extra_working_days = ["2026-09-27", "2026-10-10"]

[service.tier.A]
first_response = "2h"
resolution = { major = "8h", general = "3d" }
care_every_days = 14

[service.tier.B]
first_response = "4h"
resolution = { major = "1d", general = "5d" }
care_every_days = 30

[service.tier.C]
first_response = "24h"
resolution = { major = "2d", general = "5d" }
care_every_days = 90
business_hours = false
"#,
    crate::service::baseline_example!(),
    r#""#
);

/// The demo as of `clock`: 7 teams in a tree, 40 reps (two absent around the clock's date,
/// one inactive), `customer_count` customers in the pool created over the year before the
/// clock, and rules using every strategy.
pub fn demo_organisation(seed: u64, customer_count: usize, clock: Clock) -> DemoOrganisation {
    let mut random = SplitMix64(seed ^ 0xA110_7000);
    let teams = vec![
        team("hq", "总部", None, Some("r01")),
        team("east", "华东大区", Some("hq"), Some("r02")),
        team("east-ka", "华东大客户组", Some("east"), Some("r03")),
        team("east-smb", "华东中小客户组", Some("east"), Some("r10")),
        team("south", "华南大区", Some("hq"), Some("r18")),
        team("north", "华北大区", Some("hq"), Some("r26")),
        team("finance", "金融行业组", Some("hq"), Some("r33")),
    ];
    let managers = ["r01", "r02", "r03", "r10", "r18", "r26", "r33"];
    // Absent from a week before the clock's date to a month after it, whenever the demo is run.
    let today = clock.today();
    let absence_from = Some(today - Duration::days(7));
    let absence_until = Some(today + Duration::days(30));
    let reps: Vec<Rep> = (1..=40)
        .map(|number| {
            let id = format!("r{number:02}");
            let team_id = match number {
                1 => "hq",
                2..=9 => "east-ka",
                10..=17 => "east-smb",
                18..=25 => "south",
                26..=32 => "north",
                _ => "finance",
            };
            let role = if number == 1 {
                Role::Admin
            } else if managers.contains(&id.as_str()) {
                Role::Manager
            } else {
                Role::Rep
            };
            let level = if (2..=5).contains(&number) || role != Role::Rep {
                Level::Senior
            } else {
                random_level(&mut random)
            };
            let mut skills = random_skills(&mut random);
            if team_id == "finance" && !skills.iter().any(|skill| skill == "金融") {
                skills.insert(0, "金融".to_string());
            }
            let capacity = if random.chance(10) {
                None
            } else {
                Some(150 + random.below(250) as u32)
            };
            let absent = number == 12 || number == 27;
            Rep {
                id: RepId::parse(&id).expect("valid id"),
                name: rep_name(&mut random),
                email: format!("{id}@allot-demo.cn"),
                team_id: Some(TeamId::parse(team_id).expect("valid id")),
                role,
                level,
                capacity,
                weight: (1 + random.below(3)) as f64,
                skills,
                active: number != 39,
                absent_from: if absent { absence_from } else { None },
                absent_until: if absent { absence_until } else { None },
            }
        })
        .collect();
    // The last customer arrives the day before the clock's date.
    let first_day = clock.utc_date() - Duration::days(331);
    let customers = generate_customers(&mut random, customer_count, &reps, first_day);
    DemoOrganisation {
        teams,
        reps,
        customers,
        rules_toml: DEMO_RULES.to_string(),
    }
}

/// For benchmarks: a team tree (each team has three children), reps spread evenly, no caps,
/// and `rule_count` rules rotating over conditions, targets and all five strategies,
/// ending in an explicit fallback.
pub fn synthetic_organisation(
    seed: u64,
    team_count: usize,
    rep_count: usize,
    customer_count: usize,
    rule_count: usize,
) -> DemoOrganisation {
    let mut random = SplitMix64(seed ^ 0x5EED_0001);
    let team_count = team_count.max(2);
    let teams: Vec<Team> = (0..team_count)
        .map(|index| Team {
            id: TeamId::parse(&format!("t{index:03}")).expect("valid id"),
            name: format!("团队{index}"),
            parent_id: (index > 0)
                .then(|| TeamId::parse(&format!("t{:03}", (index - 1) / 3)).expect("valid id")),
            manager_id: None,
        })
        .collect();
    let reps: Vec<Rep> = (0..rep_count)
        .map(|index| Rep {
            id: RepId::parse(&format!("r{index:05}")).expect("valid id"),
            name: rep_name(&mut random),
            email: format!("r{index}@bench.example"),
            team_id: Some(teams[index % team_count].id.clone()),
            role: Role::Rep,
            level: random_level(&mut random),
            capacity: None,
            weight: (1 + random.below(3)) as f64,
            skills: random_skills(&mut random),
            active: true,
            absent_from: None,
            absent_until: None,
        })
        .collect();
    let first_day = NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid date");
    let customers = generate_customers(&mut random, customer_count, &reps, first_day);
    // Deep teams have small subtrees, like real sales groups; targets come from the lower levels.
    let lower_teams: Vec<&Team> = teams.iter().skip(team_count / 3).collect();
    let strategies = [
        "round_robin",
        "weighted",
        "least_loaded",
        "first_touch",
        "sticky",
    ];
    let mut rules = String::from("# Synthetic benchmark rules.\n");
    for index in 0..rule_count.saturating_sub(1) {
        let province = REGIONS[index % REGIONS.len()]
            .split('/')
            .next()
            .unwrap_or("上海");
        let condition = match index % 5 {
            0 => format!(
                "tier == \"{}\" and region ^= \"{province}\"",
                ["A", "B", "C"][index % 3]
            ),
            1 => format!(
                "industry == \"{}\" and size >= {}",
                INDUSTRIES[index % INDUSTRIES.len()],
                100 * (index % 7)
            ),
            2 => format!(
                "attr.annual_revenue >= {} and tier in [\"A\", \"B\"]",
                1_000_000 * (1 + index % 9)
            ),
            3 => format!("region ^= \"{}\"", REGIONS[index % REGIONS.len()]),
            _ => format!(
                "industry in [\"{}\", \"{}\"] and source == \"{}\"",
                INDUSTRIES[index % INDUSTRIES.len()],
                INDUSTRIES[(index + 3) % INDUSTRIES.len()],
                SOURCES[index % SOURCES.len()]
            ),
        };
        let target_team = lower_teams[index % lower_teams.len()];
        let target = match index % 3 {
            0 => format!("{{ team = \"{}\" }}", target_team.id),
            1 => {
                let listed: Vec<String> = (0..5)
                    .map(|offset| {
                        format!(
                            "\"{}\"",
                            reps[(index * 7 + offset * 13) % reps.len().max(1)].id
                        )
                    })
                    .collect();
                format!("{{ reps = [{}] }}", listed.join(", "))
            }
            _ => format!("{{ skill = \"{}\" }}", SKILLS[index % SKILLS.len()]),
        };
        rules.push_str(&format!(
            "\n[[rule]]\nname = \"rule-{index:03}\"\nwhen = '{condition}'\nto = {target}\nstrategy = \"{}\"\n",
            strategies[index % strategies.len()]
        ));
    }
    let fallback_team = &teams[(team_count / 3).min(team_count - 1)];
    rules.push_str(&format!(
        "\n[[rule]]\nname = \"fallback\"\nwhen = 'true'\nto = {{ team = \"{}\" }}\nstrategy = \"least_loaded\"\n",
        fallback_team.id
    ));
    DemoOrganisation {
        teams,
        reps,
        customers,
        rules_toml: rules,
    }
}

/// The demo's activity: purchases, touches and tickets.
#[derive(Debug, Clone, Default)]
pub struct DemoActivity {
    pub transactions: Vec<Transaction>,
    pub interactions: Vec<Interaction>,
    pub tickets: Vec<Ticket>,
}

/// A year of purchases, touches and tickets for the demo's customers, up to the clock (nothing
/// happens after it: a demo built "as of" a time shows that time's state).
///
/// Each customer gets a purchase rate and a spend level from its tier and size, and may
/// stop buying at some point (so RFM segments, P(alive) and tiers have something to show);
/// owned customers get interactions from their owner, and some owners stop calling. About
/// one customer in eight raised tickets; the ones of the last two weeks are still open.
pub fn demo_activity(seed: u64, customers: &[Customer], clock: Clock) -> DemoActivity {
    let as_of = clock.today();
    let mut random = SplitMix64(seed ^ 0x0A11_07AC_7171_7E55);
    let mut transactions = Vec::new();
    let mut interactions = Vec::new();
    let start = as_of - Duration::days(365);
    let product_lines = ["CRM", "ERP", "BI", "云服务"];
    let kinds = [
        InteractionKind::Call,
        InteractionKind::Visit,
        InteractionKind::Email,
        InteractionKind::Meeting,
        InteractionKind::Message,
    ];
    let at = |day: NaiveDate, hour: u32| day.and_hms_opt(hour, 0, 0).expect("valid hour").and_utc();
    for customer in customers {
        // One customer in five never bought: leads and lost prospects.
        if random.chance(20) {
            continue;
        }
        let (mean_gap, spend) = match customer.tier.as_ref().map_or("", |tier| tier.as_str()) {
            "A" => (18.0, 12_000.0),
            "B" => (35.0, 4_000.0),
            _ => (60.0, 1_200.0),
        };
        let size_factor = 1.0 + (customer.size.unwrap_or(20) as f64).ln_1p() / 4.0;
        let customer_spend = spend * size_factor * (0.5 + random.below(100) as f64 / 100.0);
        let mut day = start + Duration::days(random.below(200) as i64);
        let stops_after = if random.chance(30) {
            day + Duration::days(30 + random.below(240) as i64)
        } else {
            as_of
        };
        while day <= stops_after.min(as_of) {
            let amount = (customer_spend * (0.6 + random.below(80) as f64 / 100.0)).round() as i64;
            transactions.push(Transaction {
                id: None,
                customer_id: customer.id.clone(),
                at: at(day, 10),
                amount: Money::from_minor_units(amount * 100),
                product_line: random.pick(&product_lines).to_string(),
            });
            // One purchase in twenty is partly refunded a few days later.
            if random.chance(5) {
                transactions.push(Transaction {
                    id: None,
                    customer_id: customer.id.clone(),
                    at: at(day + Duration::days(3), 15),
                    amount: Money::from_minor_units(-((amount as f64 * 0.3).round() as i64) * 100),
                    product_line: "退款".to_string(),
                });
            }
            let gap = -((random.below(1000) as f64 + 0.5) / 1000.0).ln() * mean_gap;
            day += Duration::days(1 + gap as i64);
        }
        if let Some(owner) = &customer.owner_id {
            let touch_gap = 7 + random.below(30) as i64;
            let neglected_since = if random.chance(15) {
                as_of - Duration::days(60 + random.below(120) as i64)
            } else {
                as_of
            };
            let mut day = start + Duration::days(random.below(touch_gap as usize) as i64);
            while day <= neglected_since {
                interactions.push(Interaction {
                    id: None,
                    customer_id: customer.id.clone(),
                    rep_id: owner.clone(),
                    at: at(day, 14),
                    kind: *random.pick(&kinds),
                    minutes: (5 + random.below(60)) as f64,
                    outcome: String::new(),
                });
                day += Duration::days(touch_gap + random.below(7) as i64);
            }
        }
    }
    let tickets = demo_tickets(seed, customers, as_of);
    let now = clock.now();
    transactions.retain(|transaction| transaction.at <= now);
    interactions.retain(|interaction| interaction.at <= now);
    DemoActivity {
        transactions,
        interactions,
        tickets: tickets
            .into_iter()
            .filter(|ticket| ticket.opened_at <= now)
            .map(|mut ticket| {
                ticket.closed_at = ticket.closed_at.filter(|closed| *closed <= now);
                ticket.resolved_at = ticket.resolved_at.filter(|resolved| *resolved <= now);
                ticket.first_response_at = ticket.first_response_at.filter(|first| *first <= now);
                if ticket.resolved_at.is_none() {
                    ticket.rating = None;
                }
                ticket
            })
            .collect(),
    }
}

/// Tickets from a stream of their own, so adding them left the purchases and touches as before.
fn demo_tickets(seed: u64, customers: &[Customer], as_of: NaiveDate) -> Vec<Ticket> {
    let mut random = SplitMix64(seed ^ 0x7105_4E75_0000_0003);
    let subjects = [
        "发票开错",
        "系统无法登录",
        "交付延期",
        "报价咨询",
        "服务投诉",
    ];
    // The service columns come from a stream of their own too, so the tickets are as before.
    let mut service = SplitMix64(seed ^ 0x5E41_1CE0_0000_0004);
    let mut tickets = Vec::new();
    for customer in customers {
        if !random.chance(12) {
            continue;
        }
        for number in 0..1 + random.below(3) {
            let opened = as_of - Duration::days(random.below(360) as i64);
            let opened_at = opened.and_hms_opt(3, 0, 0).expect("valid hour").and_utc();
            let open_days = 1 + random.below(20) as i64;
            let closed_at = (opened + Duration::days(open_days) <= as_of - Duration::days(14))
                .then(|| opened_at + Duration::days(open_days));
            let severity = if random.chance(20) {
                TicketSeverity::Major
            } else {
                TicketSeverity::General
            };
            let subject = random.pick(&subjects).to_string();
            // Most are answered within a few hours, some after a day or two.
            let response_minutes = if service.chance(15) {
                1_440 + service.below(2_880) as i64
            } else {
                10 + service.below(300) as i64
            };
            let responded = opened_at + Duration::minutes(response_minutes);
            let first_response_at =
                Some(closed_at.map_or(responded, |closed| responded.min(closed)));
            let rating = closed_at
                .map(|_| 1 + service.below(5) as u8)
                .filter(|_| service.chance(60));
            tickets.push(Ticket {
                id: format!("k-{}-{number}", customer.id),
                customer_id: customer.id.clone(),
                opened_at,
                closed_at,
                severity,
                kind: if subject == "服务投诉" {
                    TicketKind::Complaint
                } else {
                    TicketKind::Request
                },
                subject,
                first_response_at,
                resolved_at: closed_at,
                reopened: 0,
                rating,
            });
        }
    }
    tickets
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{RuleSet, StrategyKind};
    use std::collections::BTreeSet;

    #[test]
    fn the_demo_policy_grades_as_the_default_and_promises_service() {
        let policy = crate::value::ValuePolicy::parse(DEMO_POLICY).unwrap();
        let default = crate::value::ValuePolicy::default();
        assert_eq!(policy.tiers, default.tiers);
        assert_eq!(policy.scoring, default.scoring);
        assert_eq!(policy.health, default.health);
        assert_eq!(policy.pool, default.pool);
        assert_eq!(policy.service.tiers.len(), 3);
    }

    #[test]
    fn demo_activity_ends_at_the_clock() {
        let clock = Clock::parse("2026-11-25T09:00:00+08:00").unwrap();
        let organisation = demo_organisation(7, 400, clock);
        // Interactions come from owners, so give every customer one, as routing would.
        let owned: Vec<Customer> = organisation
            .customers
            .iter()
            .cloned()
            .map(|mut customer| {
                customer.owner_id = Some(organisation.reps[0].id.clone());
                customer
            })
            .collect();
        let activity = demo_activity(7, &owned, clock);
        assert!(!activity.transactions.is_empty() && !activity.interactions.is_empty());
        assert!(activity
            .transactions
            .iter()
            .all(|row| row.at <= clock.now()));
        assert!(activity
            .interactions
            .iter()
            .all(|row| row.at <= clock.now()));
        assert!(activity
            .tickets
            .iter()
            .all(|ticket| ticket.opened_at <= clock.now()
                && ticket
                    .closed_at
                    .is_none_or(|closed| closed <= clock.now() && closed >= ticket.opened_at)));
        let open = activity
            .tickets
            .iter()
            .filter(|ticket| ticket.closed_at.is_none())
            .count();
        assert!(
            open > 0 && open < activity.tickets.len(),
            "some tickets open, most closed: {open} of {}",
            activity.tickets.len()
        );
    }

    #[test]
    fn the_demo_is_deterministic() {
        let clock = Clock::parse("2026-11-25T09:00:00+08:00").unwrap();
        let first = demo_organisation(7, 300, clock);
        let second = demo_organisation(7, 300, clock);
        let other = demo_organisation(8, 300, clock);
        assert_eq!(first.customers, second.customers);
        assert_eq!(first.reps, second.reps);
        assert_ne!(first.customers, other.customers);
    }

    #[test]
    fn the_demo_has_the_promised_shape() {
        let clock = Clock::parse("2026-11-25T09:00:00+08:00").unwrap();
        let demo = demo_organisation(7, 5000, clock);
        assert_eq!(demo.teams.len(), 7);
        assert_eq!(demo.reps.len(), 40);
        assert_eq!(demo.customers.len(), 5000);
        assert!(demo
            .customers
            .iter()
            .all(|customer| customer.created_at.is_some_and(|at| at < clock.now())));
        let absent_on = |demo: &DemoOrganisation, today| {
            demo.reps
                .iter()
                .filter(|rep| rep.is_absent_on(today))
                .count()
        };
        assert_eq!(absent_on(&demo, clock.today()), 2);
        // Whenever the demo runs, two reps are away that day.
        for later in ["2027-03-01T09:00:00+08:00", "2031-07-15T00:00:00Z"] {
            let clock = Clock::parse(later).unwrap();
            let demo = demo_organisation(7, 10, clock);
            assert_eq!(absent_on(&demo, clock.today()), 2, "{later}");
            assert!(demo
                .customers
                .iter()
                .all(|customer| customer.created_at.is_some_and(|at| at < clock.now())));
        }
        assert_eq!(demo.reps.iter().filter(|rep| !rep.active).count(), 1);
        let roots: Vec<_> = demo
            .teams
            .iter()
            .filter(|team| team.parent_id.is_none())
            .collect();
        assert_eq!(roots.len(), 1);
        let team_ids: BTreeSet<_> = demo.teams.iter().map(|team| team.id.clone()).collect();
        let rep_ids: BTreeSet<_> = demo.reps.iter().map(|rep| rep.id.clone()).collect();
        for team in &demo.teams {
            assert!(team
                .parent_id
                .as_ref()
                .is_none_or(|parent| team_ids.contains(parent)));
            assert!(team
                .manager_id
                .as_ref()
                .is_some_and(|manager| rep_ids.contains(manager)));
        }
        let capacity: u32 = demo
            .reps
            .iter()
            .map(|rep| rep.capacity.unwrap_or(1000))
            .sum();
        assert!(capacity as usize > demo.customers.len());
        let mut seen = BTreeSet::new();
        for customer in &demo.customers {
            if let Some(parent) = &customer.parent_id {
                assert!(
                    seen.contains(parent),
                    "parent {parent} comes before {}",
                    customer.id
                );
            }
            seen.insert(customer.id.clone());
            assert!(customer.owner_id.is_none());
        }
    }

    #[test]
    fn demo_rules_parse_use_every_strategy_and_end_in_a_fallback() {
        let demo = demo_organisation(7, 10, Clock::parse("2026-11-25T09:00:00Z").unwrap());
        let rules = RuleSet::parse(&demo.rules_toml).unwrap();
        let rep_records = demo.reps.clone();
        assert!(rules.check_references(&demo.teams, &rep_records).is_empty());
        for strategy in StrategyKind::ALL {
            assert!(
                rules.rules.iter().any(|rule| rule.strategy == strategy),
                "{strategy}"
            );
        }
        assert_eq!(rules.rules.last().unwrap().condition.source(), "true");
    }

    #[test]
    fn synthetic_sizes_are_as_asked() {
        let synthetic = synthetic_organisation(1, 50, 1000, 2000, 50);
        assert_eq!(synthetic.teams.len(), 50);
        assert_eq!(synthetic.reps.len(), 1000);
        assert_eq!(synthetic.customers.len(), 2000);
        let rules = RuleSet::parse(&synthetic.rules_toml).unwrap();
        assert_eq!(rules.rules.len(), 50);
        assert!(rules
            .check_references(&synthetic.teams, &synthetic.reps)
            .is_empty());
    }
}
