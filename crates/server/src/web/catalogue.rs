//! The web UI's words in zh-CN and en: one keyed catalogue, every key in both languages (a
//! test fails on an empty one), chosen per request from the `allot_lang` cookie or
//! `Accept-Language`.

use std::collections::BTreeMap;

/// The languages the UI speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Chinese,
    English,
}

impl Language {
    /// The language code pages declare (`<html lang>`) and the cookie keeps.
    pub fn code(self) -> &'static str {
        match self {
            Language::Chinese => "zh-CN",
            Language::English => "en",
        }
    }

    /// A code from the cookie or a `?lang=` link.
    pub fn from_code(code: &str) -> Option<Language> {
        match code.trim().to_ascii_lowercase().as_str() {
            "zh" | "zh-cn" | "zh-hans" => Some(Language::Chinese),
            "en" | "en-us" | "en-gb" => Some(Language::English),
            _ => None,
        }
    }

    /// The first of the `Accept-Language` header's languages the UI speaks (by weight);
    /// Chinese when it names none, since most of Allot's users read it.
    pub fn from_accept_language(header: &str) -> Language {
        let mut ranked: Vec<(f32, Language)> = header
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.split(';');
                let tag = pieces.next()?.trim().to_ascii_lowercase();
                let weight = pieces
                    .find_map(|piece| piece.trim().strip_prefix("q="))
                    .and_then(|weight| weight.parse::<f32>().ok())
                    .unwrap_or(1.0);
                let language = if tag.starts_with("zh") {
                    Language::Chinese
                } else if tag.starts_with("en") {
                    Language::English
                } else {
                    return None;
                };
                Some((weight, language))
            })
            .collect();
        ranked.sort_by(|left, right| right.0.total_cmp(&left.0));
        ranked
            .first()
            .map_or(Language::Chinese, |(_, language)| *language)
    }
}

/// Every key with its Chinese and English words.
const CATALOGUE: &[(&str, &str, &str)] = &[
    ("app_name", "Allot 客户分配", "Allot"),
    ("login_title", "登录", "Sign in"),
    ("rep_id", "账号（销售编号）", "Account (rep id)"),
    ("password", "密码", "Password"),
    ("sign_in", "登录", "Sign in"),
    ("sign_out", "退出登录", "Sign out"),
    (
        "wrong_credentials",
        "账号或密码不正确。",
        "The account or password is not right.",
    ),
    (
        "locked",
        "密码错误次数过多，账号已锁定，请于 {until} 后再试。",
        "Too many wrong passwords: the account is locked until {until}.",
    ),
    (
        "form_expired",
        "表单已过期，请重新提交。",
        "The form expired; please send it again.",
    ),
    ("signed_in_as", "当前用户", "Signed in as"),
    ("role_admin", "管理员", "admin"),
    ("role_manager", "主管", "manager"),
    ("role_rep", "销售", "rep"),
    ("dashboard", "看板", "Dashboard"),
    (
        "workload_title",
        "负责客户与工作量",
        "Customers and workload",
    ),
    ("team", "团队", "Team"),
    ("workload", "工作量", "Workload"),
    (
        "owned_by_rep",
        "每位销售负责的客户数",
        "Customers owned per rep",
    ),
    ("workload_by_team", "每个团队的工作量", "Workload per team"),
    ("fairness_title", "分配公平性", "Fairness of the allocation"),
    ("overall", "总体", "Overall"),
    ("available_reps", "在岗销售", "Available reps"),
    (
        "lorenz_title",
        "工作量洛伦兹曲线（对角线为完全平均）",
        "Lorenz curve of workload (the diagonal is perfect equality)",
    ),
    (
        "lorenz_point",
        "工作量最少的 {reps}% 销售承担了 {share}% 的工作量",
        "The least loaded {reps}% of reps carry {share}% of the workload",
    ),
    (
        "tiers_title",
        "客户分级与价值占比",
        "Tiers and their share of value",
    ),
    (
        "tiers_caption",
        "各等级客户数 · 消费金额占比",
        "Customers per tier · share of the amount bought",
    ),
    ("segments_title", "RFM 客户分群", "RFM segments"),
    ("segment", "分群", "Segment"),
    ("customers", "客户数", "Customers"),
    ("pool_size", "公海客户", "customers in the pool"),
    ("transfers_waiting", "待处理的转移", "transfers waiting"),
    ("open_alerts", "未关闭的健康预警", "open health alerts"),
    ("graded_customers", "已评级客户", "graded customers"),
    ("main_menu", "主菜单", "Main menu"),
    ("pool_title", "公海", "Pool"),
    ("pool_total", "公海客户总数", "Customers in the pool"),
    ("pool_empty", "公海中没有客户。", "The pool is empty."),
    ("customer", "客户", "Customer"),
    ("tier", "等级", "Tier"),
    ("region", "地区", "Region"),
    ("days_in_pool", "在公海天数", "Days in the pool"),
    ("why_in_pool", "进入公海的原因", "Why it is in the pool"),
    ("claim", "认领", "Claim"),
    (
        "claimed",
        "已认领 {customer}，现在归您负责。",
        "You claimed {customer}; it is yours now.",
    ),
    (
        "claim_refused",
        "认领 {customer} 被拒绝：{reason}",
        "Claiming {customer} was refused: {reason}",
    ),
    (
        "refusal_owned",
        "该客户已有负责人",
        "someone owns this customer",
    ),
    (
        "refusal_holding_cap",
        "已达到持有上限",
        "you hold as many as you may",
    ),
    (
        "refusal_claim_limit",
        "已达到今日认领上限",
        "you reached today's claim limit",
    ),
    (
        "refusal_cooldown",
        "仍在冷却期内",
        "the cooldown has not ended",
    ),
    ("refusal_inactive", "账号已停用", "your account is inactive"),
    (
        "refusal_absent",
        "您当前处于休假期间",
        "you are marked absent",
    ),
    ("customers_title", "客户", "Customers"),
    ("search", "搜索", "Search"),
    ("search_hint", "名称、编号或电话", "name, id or phone"),
    ("owner", "负责人", "Owner"),
    ("region_prefix", "地区（前缀）", "Region (prefix)"),
    ("pool_filter", "归属", "Ownership"),
    ("pool_any", "全部", "All"),
    ("pool_only", "仅公海", "Pool only"),
    ("owned_only", "仅已分配", "Owned only"),
    ("found", "找到", "Found"),
    ("phone", "电话", "Phone"),
    ("in_pool", "公海", "pool"),
    ("release", "退回公海", "Release"),
    ("release_reason", "退回原因", "Why it goes back"),
    (
        "released",
        "{customer} 已退回公海。",
        "{customer} is back in the pool.",
    ),
    (
        "release_refused",
        "退回 {customer} 未成功：{reason}",
        "Releasing {customer} was refused: {reason}",
    ),
    (
        "refusal_not_owner",
        "您不是该客户的负责人",
        "you do not own this customer",
    ),
    (
        "refusal_not_found",
        "您可见的范围内没有这个客户",
        "there is no such customer in your view",
    ),
    (
        "refusal_open_transfer",
        "该客户有进行中的转移",
        "a transfer of this customer is open",
    ),
    ("pages", "分页", "Pages"),
    ("previous_page", "上一页", "Previous page"),
    ("next_page", "下一页", "Next page"),
    ("no_reps", "没有可显示的销售。", "No reps to show."),
    ("language", "语言", "Language"),
    ("skip_to_content", "跳到正文", "Skip to content"),
];

/// The words of one language, by key, as templates read them (`t.sign_in`).
pub fn words(language: Language) -> BTreeMap<&'static str, &'static str> {
    CATALOGUE
        .iter()
        .map(|(key, chinese, english)| {
            (
                *key,
                match language {
                    Language::Chinese => *chinese,
                    Language::English => *english,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_words_in_both_languages_and_appears_once() {
        let mut seen = std::collections::BTreeSet::new();
        for (key, chinese, english) in CATALOGUE {
            assert!(seen.insert(*key), "{key} twice");
            assert!(!chinese.trim().is_empty(), "{key} has no Chinese");
            assert!(!english.trim().is_empty(), "{key} has no English");
        }
    }

    #[test]
    fn every_key_a_template_uses_is_in_the_catalogue() {
        for (name, source) in super::super::TEMPLATES {
            // `t.key` where `t` is a name of its own (not the end of `allot.css`).
            let uses = source.match_indices("t.").filter(|(at, _)| {
                source[..*at]
                    .chars()
                    .next_back()
                    .is_none_or(|before| !before.is_alphanumeric() && !"_./".contains(before))
            });
            for (at, _) in uses {
                let key: String = source[at + 2..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                assert!(
                    CATALOGUE.iter().any(|(known, ..)| *known == key),
                    "{name} uses t.{key}, which the catalogue lacks"
                );
            }
        }
    }

    #[test]
    fn accept_language_picks_the_heaviest_language_spoken() {
        for (header, expected) in [
            ("zh-CN,zh;q=0.9,en;q=0.8", Language::Chinese),
            ("en-US,en;q=0.9", Language::English),
            ("de-DE,en;q=0.5,zh;q=0.4", Language::English),
            ("fr", Language::Chinese),
            ("", Language::Chinese),
        ] {
            assert_eq!(Language::from_accept_language(header), expected, "{header}");
        }
    }
}
