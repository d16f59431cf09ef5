//! The web UI's words in zh-CN and en: one keyed catalogue, every key in both languages (a
//! test fails on an empty one), chosen per request from the `allot_lang` cookie or
//! `Accept-Language`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

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
    ("absence", "休假", "Absence"),
    ("absent_from", "休假开始", "Absent from"),
    ("absent_now", "休假中", "away now"),
    ("absent_until", "休假结束", "Absent until"),
    ("actions", "操作", "Actions"),
    ("active", "在职", "Active"),
    ("amount", "金额", "Amount"),
    ("approvals", "审批进度", "Approvals"),
    ("at_risk", "有流失风险", "at risk"),
    ("bad_rows", "错误行", "Bad rows"),
    ("candidates", "候选人", "Candidates"),
    ("capacity", "保有上限", "Capacity"),
    ("closed", "关闭时间", "Closed"),
    ("column", "列", "column"),
    ("comment", "备注", "Comment"),
    ("compare", "比较", "Compare"),
    ("confirm_deactivate", "确定让此销售离职并交接全部客户吗？", "Deactivate this rep and hand over all its customers?"),
    ("confirm_release", "确定把此客户退回公海吗？", "Release this customer to the pool?"),
    ("forget", "删除个人信息", "Erase personal data"),
    ("forget_reason", "删除依据（申请及日期）", "Why (the request and its date)"),
    ("confirm_forget", "确定永久删除此客户的个人信息吗？此操作不可撤销。", "Erase this customer's personal data for good? This cannot be undone."),
    ("confirm_save_rules", "确定保存为新版本并立即生效吗？", "Save as a new version, in force at once?"),
    ("conflict", "撞单", "conflict"),
    ("deactivate", "离职交接", "Deactivate"),
    ("decided_at", "决定于", "Decided at"),
    ("diff_from", "旧版本", "From version"),
    ("diff_title", "版本差异", "Changes from version"),
    ("diff_to", "新版本", "To version"),
    ("do_accept", "接收", "Accept"),
    ("do_approve", "批准", "Approve"),
    ("do_cancel", "撤回", "Cancel"),
    ("do_decline", "拒收", "Decline"),
    ("do_reject", "驳回", "Reject"),
    ("duplicates", "撞单（已存为冲突）", "Duplicates kept as conflicts"),
    ("earlier_decisions", "更早的分配决定", "Earlier decisions"),
    ("edit", "编辑", "Edit"),
    ("email", "邮箱", "Email"),
    ("explanation", "分配说明", "Why this owner"),
    ("frequency", "购买次数", "Purchase days"),
    ("graded_at", "评级时间", "Graded at"),
    ("handover_checklist", "交接清单", "Hand-over checklist"),
    ("handover_notes", "交接说明", "Notes"),
    ("health", "健康度", "Health"),
    ("history", "历史", "History"),
    ("import_file", "文件（CSV 或 Excel .xlsx）", "File (CSV or Excel .xlsx)"),
    ("import_hint", "每个文件一次事务写入；有错误的行会列出行号、列和原因。", "Each file is written in one transaction; bad rows are listed with their line, column and reason."),
    ("import_kind", "数据类型", "What the file holds"),
    ("import_not_written", "严格模式下发现错误，未写入任何数据。", "Strict, and some rows were bad: nothing was written."),
    ("import_result", "导入结果", "Import result"),
    ("import_run", "导入", "Import"),
    ("import_sheet", "工作表（Excel，可选）", "Sheet (Excel, optional)"),
    ("import_strict", "严格模式：有任何错误行则不写入", "Strict: write nothing if any row is bad"),
    ("import_title", "导入", "Import"),
    ("import_written", "已写入。", "Written."),
    ("inbox_accept", "待我接收", "Waiting for me to accept"),
    ("inbox_approve", "待我审批", "Waiting for my approval"),
    ("inbox_empty", "暂无", "Nothing here"),
    ("inserted", "新增", "Inserted"),
    ("interactions", "跟进记录", "Interactions"),
    ("kind", "方式", "Kind"),
    ("kind_customers", "客户", "Customers"),
    ("kind_interactions", "跟进记录", "Interactions"),
    ("kind_reps", "销售", "Reps"),
    ("kind_teams", "团队", "Teams"),
    ("kind_tickets", "工单", "Tickets"),
    ("kind_transactions", "交易", "Transactions"),
    ("last_purchase", "最近购买", "Last purchase"),
    ("level", "级别", "Level"),
    ("line", "行", "line"),
    ("lines", "行数", "Lines"),
    ("manager", "主管", "manager"),
    ("minutes", "分钟", "Minutes"),
    ("monetary", "消费金额", "Spent"),
    ("name", "姓名", "Name"),
    ("no", "否", "no"),
    ("no_decision", "此客户还没有路由决定。", "No routing decision is stored for this customer."),
    ("no_events", "尚无归属变更。", "No ownership change yet."),
    ("no_file", "请选择要导入的文件。", "Choose a file to import."),
    ("no_rules", "尚未设置规则。", "No rules are set yet."),
    ("no_team", "未分配团队", "In no team"),
    ("none_yet", "暂无记录。", "None yet."),
    ("not_found", "未找到 {what}", "{what} not found"),
    ("not_found_text", "该记录不存在，或不在你的可见范围内。", "It does not exist, or it is outside what you can see."),
    ("not_found_title", "未找到", "Not found"),
    ("not_graded", "尚未评级。", "Not graded yet."),
    ("omitted_candidates", "未列出的其他候选人", "Other candidates not listed"),
    ("open_tasks", "未结工单", "Open tickets"),
    ("opened", "创建时间", "Opened"),
    ("outcome", "结果", "Outcome"),
    ("overridden", "人工指定", "set by hand"),
    ("override_reason", "指定原因", "Reason"),
    ("override_tier", "人工指定等级", "Override tier"),
    ("override_until", "有效期至", "Until"),
    ("owned", "保有客户", "Owned"),
    ("ownership_changes", "归属变更", "Ownership changes"),
    ("ownership_timeline", "归属时间线", "Ownership timeline"),
    ("product_line", "产品线", "Product line"),
    ("profile", "客户资料", "Profile"),
    ("purchases", "购买记录", "Purchases"),
    ("reason", "原因", "Reason"),
    ("recency_days", "距上次购买（天）", "Days since last purchase"),
    ("rep", "销售", "Rep"),
    ("rep_deactivated", "{rep} 已离职：{customers} 个客户已交接，{to_pool} 个进入公海。", "{rep} is deactivated: {customers} customers handed over, {to_pool} to the pool."),
    ("rep_saved", "已保存。", "Saved."),
    ("reps_shown", "可见销售", "Reps shown"),
    ("reps_title", "团队与销售", "Reps and teams"),
    ("request_transfer", "申请转移", "Request transfer"),
    ("requested_at", "申请时间", "Requested"),
    ("requested_by", "申请人", "Requested by"),
    ("role", "角色", "Role"),
    ("rule", "规则", "Rule"),
    ("rule_matched", "匹配", "matched"),
    ("rule_missed", "未匹配", "did not match"),
    ("rules_check", "检查", "Check"),
    ("rules_listing", "带行号的规则", "The rules, numbered"),
    ("rules_problems", "发现问题", "Problems found"),
    ("rules_save", "保存为新版本", "Save as a new version"),
    ("rules_saved", "已保存为第 {version} 版。", "Saved as version {version}."),
    ("rules_source", "规则（TOML）", "Rules (TOML)"),
    ("rules_title", "分配规则", "Rules"),
    ("rules_tried", "尝试的规则", "Rules tried"),
    ("rules_valid", "规则有效，可以保存。", "The rules are valid and can be saved."),
    ("rules_version", "版本", "Version"),
    ("rules_versions", "历史版本", "Versions"),
    ("rules_simulate", "模拟", "Simulate"),
    ("simulate_scope", "模拟范围", "Simulate over"),
    ("scope_all", "全部客户", "All customers"),
    ("scope_owned", "已分配客户", "Owned customers"),
    ("scope_pool", "公海客户", "Pool customers"),
    ("simulation_title", "模拟结果（未写入任何数据）", "Simulation (nothing was written)"),
    ("simulation_owned", "已分配客户：判断 {considered} 个，{kept} 个保持负责人（其中 {outside} 个当前并非由规则分配），{changes} 个将更换负责人。", "Owned customers: {considered} judged, {kept} keep their owner ({outside} of them not placed by the current rules), {changes} would change owner."),
    ("simulation_pool", "公海客户：{considered} 个，{placed} 个将被分配，{staying} 个仍留在公海。", "Pool customers: {considered}, {placed} would be placed, {staying} would stay."),
    ("simulation_moves", "将更换负责人的客户", "Customers whose owner would change"),
    ("simulation_placed", "将被分配的公海客户", "Pool customers that would be placed"),
    ("simulation_staying", "仍留在公海的原因", "Why customers would stay in the pool"),
    ("simulation_fairness", "公平性：之前与之后", "Fairness before and after"),
    ("simulation_owned_chart", "各团队保有客户数（模拟后）", "Owned customers per team, after"),
    ("simulation_over_cap", "将超过保有上限的销售", "Reps that would pass their cap"),
    ("simulation_more", "另有 {count} 条未列出。", "{count} more not listed."),
    ("rebalance_title", "再平衡", "Rebalance"),
    ("rebalance_intro", "在规则允许的销售之间移动客户，使工作量更均衡，同时尽量少换负责人；保有上限不可突破。先查看方案，再提交为转移申请。", "Move customers between the reps their rules allow so workload evens out with as few owner changes as possible; holding caps are never passed. See the plan first, then open it as transfers."),
    ("rebalance_all_teams", "全部（我可见的）", "Everyone (in my view)"),
    ("rebalance_max_moves", "最多移动客户数（可留空）", "At most this many moves (optional)"),
    ("rebalance_bad_max_moves", "最多移动数须为非负整数", "The move limit must be a whole number"),
    ("rebalance_plan", "生成方案", "Plan"),
    ("rebalance_apply", "提交为转移申请", "Open as transfers"),
    ("rebalance_move", "立即移动（免审批）", "Move now (no approval)"),
    ("rebalance_confirm_apply", "按此方案为每对销售提交转移申请？", "Open a transfer for each pair of reps in this plan?"),
    ("rebalance_confirm_move", "立即更换这些客户的负责人？", "Change these customers' owners now?"),
    ("rebalance_plan_title", "再平衡方案（未写入任何数据）", "Rebalance plan (nothing was written)"),
    ("rebalance_summary", "{customers} 个客户、{reps} 名销售参与；移动 {moves} 个客户。", "{customers} customers and {reps} reps take part; {moves} customers move."),
    ("rebalance_limit_missed", "保有上限要求的移动数超过了设定的上限。", "The holding caps need more moves than the limit allows."),
    ("rebalance_objective", "目标函数（分数越低越好）", "Objective (lower is better)"),
    ("rebalance_term", "项目", "Term"),
    ("rebalance_bound", "目标下界（流松弛）与差距", "Lower bound (flow relaxation) and the gap to it"),
    ("rebalance_moves", "移动的客户", "Customers that move"),
    ("rebalance_nothing", "当前分配已是最优，无需移动。", "The book is already at its best: nothing moves."),
    ("rebalance_chart", "各团队最大/平均工作量（再平衡后）", "Max/mean workload per team, after"),
    ("rebalance_opened", "已提交 {count} 个转移申请，等待审批。", "{count} transfers opened, waiting for approval."),
    ("rebalance_moved", "已移动 {count} 个客户，每次变更均已记录事件。", "{count} customers moved, each with its event."),
    ("rebalance_nav", "再平衡", "Rebalance"),
    ("objective_moves", "换人成本", "Moves"),
    ("objective_load", "超出团队平均的负荷", "Load above the team mean"),
    ("objective_affinity", "匹配度（负值更好）", "Affinity (negative is better)"),
    ("objective_total", "合计", "Total"),
    ("move_reason_holding_cap", "超过保有上限", "over the holding cap"),
    ("move_reason_load", "负荷高于团队平均", "load above the team mean"),
    ("move_reason_affinity", "行业或地区更匹配", "better industry or region match"),
    ("method_min_cost_flow", "（最小费用流，精确最优）", "(min-cost flow, exact optimum)"),
    ("method_flow_relaxation", "（工作量不同：流松弛取整，附下界）", "(differing workloads: flow relaxation rounded, with a bound)"),
    ("simulation_nothing", "没有客户会更换负责人。", "No customer would change owner."),
    ("from_owner", "原负责人", "From"),
    ("to_owner", "新负责人", "To"),
    ("old_rule", "原规则", "Old rule"),
    ("new_rule", "新规则", "New rule"),
    ("before", "之前", "Before"),
    ("after", "之后", "After"),
    ("back_to_pool", "回到公海", "back to the pool"),
    ("save", "保存", "Save"),
    ("saved_by", "保存人", "Saved by"),
    ("score", "价值分", "Score"),
    ("severity", "严重程度", "Severity"),
    ("skills", "技能", "Skills"),
    ("state", "状态", "State"),
    ("subject", "主题", "Subject"),
    ("successor", "接手人", "Successor"),
    ("ticket", "工单", "Ticket"),
    ("tickets", "工单", "Tickets"),
    ("tickets_title", "工单与服务时效", "Tickets and service times"),
    ("calendar_title", "关怀日历", "Care calendar"),
    ("service_nav", "服务公平", "Service fairness"),
    ("skew_title", "失衡预警", "Skew alerts"),
    ("performance_title", "销售表现", "Rep performance"),
    ("revenue", "成交额", "Revenue"),
    ("new_customers_won", "新成交客户", "New customers won"),
    ("follow_up_rate", "跟进覆盖率", "Follow-up rate"),
    ("performance_score", "表现评分", "Score"),
    ("skew_none", "当前没有失衡预警。", "No skew alerts are open."),
    ("skew_tier_effort", "等级投入偏离区间", "Tier effort out of band"),
    ("skew_new_customer_budget", "新客户投入超预算", "New-customer effort over budget"),
    ("skew_rep_overload", "销售负荷过高", "Rep overloaded"),
    ("new_customer_effort", "新客户投入占比", "Effort on new customers"),
    (
        "service_title",
        "服务公平：价值、投入与服务标准",
        "Service fairness: value, effort and service standards",
    ),
    (
        "service_window",
        "服务投入与工单按最近 {days} 天统计。",
        "Effort and tickets over the last {days} days.",
    ),
    ("service_by_tier", "按等级与团队", "By tier and team"),
    ("customer_share", "客户占比", "Share of customers"),
    ("value_share", "价值占比", "Share of value"),
    ("effort_share", "服务投入占比", "Share of effort"),
    ("first_response_attainment", "首次响应达标率", "First response on time"),
    ("resolution_attainment", "解决达标率", "Resolved on time"),
    ("baseline_coverage", "基础服务覆盖率", "Baseline coverage"),
    (
        "days_since_follow_up",
        "距上次真实跟进（天，中位数）",
        "Days since the last real follow-up (median)",
    ),
    ("baseline_title", "基础服务红线", "Baseline services"),
    ("baseline_check", "检查项", "Check"),
    ("applies", "适用客户", "Applies to"),
    ("passing", "达标客户", "Passing"),
    ("coverage", "覆盖率", "Coverage"),
    ("failing_customers", "未达标客户", "Customers failing"),
    (
        "baseline_none",
        "策略中尚未设置基础服务检查（[[service.baseline]]）。",
        "The policy sets no baseline checks yet ([[service.baseline]]).",
    ),
    ("quadrant_title", "价值 × 服务投入四象限", "Value × service quadrant"),
    (
        "quadrant_thresholds",
        "价值阈值 {value}，服务投入阈值 {minutes} 分钟。",
        "Value threshold {value}, service threshold {minutes} minutes.",
    ),
    (
        "points_sampled",
        "图中均匀抽取了 {total} 个客户中的 {drawn} 个。",
        "The chart shows an even sample of {drawn} of {total} customers.",
    ),
    ("quadrant", "象限", "Quadrant"),
    ("value_score", "价值（评分）", "Value (score)"),
    ("service_minutes", "服务投入（分钟）", "Service (minutes)"),
    ("quadrant_high_value_low_service", "高价值·低投入", "High value, low service"),
    ("quadrant_high_value_high_service", "高价值·高投入", "High value, high service"),
    ("quadrant_low_value_high_service", "低价值·高投入", "Low value, high service"),
    ("quadrant_low_value_low_service", "低价值·低投入", "Low value, low service"),
    ("under_served", "服务不足（高价值·低投入）", "Under-served (high value, low service)"),
    ("over_served", "服务过度（低价值·高投入）", "Over-served (low value, high service)"),
    ("calendar", "关怀日历", "Care calendar"),
    ("tasks_open", "待办", "Open"),
    ("tasks_all", "全部", "All"),
    (
        "tasks_count",
        "共 {count} 项任务，其中逾期 {overdue} 项",
        "{count} tasks, {overdue} overdue",
    ),
    ("due_on", "到期日", "Due"),
    ("task_kind", "任务", "Task"),
    ("care_cadence", "定期回访", "Follow-up (tier cadence)"),
    ("care_renewal_30", "续约提醒（提前30天）", "Renewal in 30 days"),
    ("care_renewal_7", "续约提醒（提前7天）", "Renewal in 7 days"),
    ("care_birthday", "生日关怀", "Birthday"),
    ("care_founded", "成立纪念日", "Founding day"),
    ("task_overdue", "已逾期", "Overdue"),
    ("task_state_open", "待办", "Open"),
    ("task_state_done", "已完成", "Done"),
    ("task_state_cancelled", "已取消", "Cancelled"),
    ("interaction_kind", "跟进方式", "How"),
    ("kind_call", "电话", "Call"),
    ("kind_visit", "拜访", "Visit"),
    ("kind_email", "邮件", "Email"),
    ("kind_meeting", "会议", "Meeting"),
    ("kind_message", "消息", "Message"),
    ("do_complete", "完成并记录跟进", "Complete and record"),
    (
        "task_done",
        "任务 {id}（客户 {customer}）已完成，跟进已记录。",
        "Task {id} for {customer} is done; the interaction is recorded.",
    ),
    ("calendar_feed", "订阅到手机日历", "Subscribe on a phone"),
    (
        "calendar_feed_how",
        "用 API 令牌（allot token create --rep 编号）订阅以下地址（iCalendar）：",
        "Subscribe to this address (iCalendar) with an API token (allot token create --rep ID):",
    ),
    (
        "refusal_task_closed",
        "该任务已完成或已取消",
        "the task is done or cancelled already",
    ),
    (
        "refusal_task_without_owner",
        "该任务没有负责人",
        "the task has no owner",
    ),
    ("ticket_states", "工单状态", "Ticket states"),
    ("tickets_open", "处理中", "Open"),
    ("tickets_done", "已解决", "Resolved"),
    ("tickets_all", "全部", "All"),
    (
        "tickets_count",
        "共 {total} 张工单；本页超时 {breached} 张",
        "{total} tickets; {breached} past a promise on this page",
    ),
    ("ticket_kind", "类型", "Kind"),
    ("ticket_kind_request", "服务请求", "Request"),
    ("ticket_kind_complaint", "投诉", "Complaint"),
    ("severity_major", "重大", "Major"),
    ("severity_general", "一般", "General"),
    ("first_response_due", "首次响应时限", "First response due"),
    ("first_response_at", "首次响应时间", "First response"),
    ("resolution_due", "解决时限", "Resolution due"),
    ("resolved_at", "解决时间", "Resolved"),
    (
        "remaining_minutes",
        "剩余（工作）分钟",
        "Minutes left (business)",
    ),
    ("sla", "服务时效", "Service level"),
    ("sla_breached", "已超时", "Breached"),
    ("sla_on_time", "未超时", "On time"),
    ("sla_none", "该等级无承诺", "No promise for this tier"),
    ("escalated_to_level", "已升级至第 {level} 级", "escalated to level {level}"),
    ("escalation_level", "升级级别", "Escalation level"),
    ("reopened", "重开次数", "Reopened"),
    ("rating", "评分", "Rating"),
    ("do_respond", "记录首次响应", "Record first response"),
    ("do_resolve", "标记为已解决", "Mark resolved"),
    ("do_reopen", "重新打开", "Reopen"),
    ("do_rating", "提交评分", "Save rating"),
    ("rating_needed", "请选择 1–5 的评分。", "Choose a rating from 1 to 5."),
    ("ticket_step_done", "工单 {id} 已更新。", "Ticket {id} updated."),
    ("ticket_event_opened", "创建", "opened"),
    ("ticket_event_responded", "首次响应", "first response"),
    ("ticket_event_resolved", "解决", "resolved"),
    ("ticket_event_reopened", "重开", "reopened"),
    ("ticket_event_rated", "评分", "rated"),
    ("ticket_event_escalated", "升级至级别", "escalated to level"),
    (
        "refusal_ticket_already_responded",
        "该工单已记录首次响应",
        "the ticket has its first response already",
    ),
    (
        "refusal_ticket_resolved",
        "该工单已解决",
        "the ticket is resolved already",
    ),
    (
        "refusal_ticket_open",
        "该工单尚未解决",
        "the ticket is not resolved yet",
    ),
    ("tier_changes", "等级变更（次序）", "Tier change (in order)"),
    ("tier_history", "等级历史", "Tier history"),
    ("tier_overridden", "已人工指定为 {tier} 级。", "Tier set to {tier} by hand."),
    ("transfer", "转移", "Transfer"),
    ("transfer_by_rules", "按规则分配", "By the rules"),
    ("transfer_from", "转出", "From"),
    ("transfer_now", "转移 #{id} 现为：{state}", "Transfer #{id} is now {state}"),
    ("transfer_reason", "原因类型", "Reason"),
    ("transfer_requested", "已提交转移申请 #{id}。", "Transfer #{id} requested."),
    ("customer_forgotten", "个人信息已删除，并记入事件 #{event}。", "Personal data erased; logged as event #{event}."),
    ("transfer_text", "说明", "Explanation"),
    ("transfer_to", "转入", "To"),
    ("transfers_in_view", "我可见的转移", "Transfers in view"),
    ("transfers_title", "客户转移", "Transfers"),
    ("updated", "更新", "Updated"),
    ("value_title", "客户价值", "Value"),
    ("waiting_for", "等待", "Waiting for"),
    ("warnings", "提示", "Warnings"),
    ("weight", "权重", "Weight"),
    ("when", "时间", "When"),
    ("why", "原因", "Why"),
    ("yes", "是", "yes"),
    ("owned_and_workload", "每位销售的客户数与工作量", "Customers and workload per rep"),
    ("pool_age_title", "公海客户等待时长", "How long pool customers have waited"),
    ("pool_under_7_days", "7 天内", "under 7 days"),
    ("pool_7_to_30_days", "7–30 天", "7–30 days"),
    ("pool_30_to_90_days", "30–90 天", "30–90 days"),
    ("pool_over_90_days", "90 天以上", "90 days or more"),
    ("oldest_in_pool", "最长等待（天）", "longest wait (days)"),
    ("reason_rep_left", "离职交接", "rep left"),
    ("reason_team_change", "团队调整", "team change"),
    ("reason_customer_request", "客户要求", "customer's request"),
    ("reason_performance", "业绩原因", "performance"),
    ("reason_reclaim", "回收", "reclaim"),
    ("reason_rebalance", "负载均衡", "rebalance"),
    ("reason_conflict", "撞单", "conflict (撞单)"),
    ("reason_other", "其他", "other"),
    ("state_requested", "待审批", "waiting for approval"),
    ("state_approved", "待接收", "approved, waiting for the new owner"),
    ("state_accepted", "已完成", "accepted"),
    ("state_rejected", "已驳回", "rejected"),
    ("state_declined", "已拒收", "declined"),
    ("state_cancelled", "已撤回", "cancelled"),
    ("claim_refusal_owned_by", "由 {owner} 负责", "{owner} owns it"),
    ("claim_refusal_holding_cap_tier", "已持有 {held} 个 {tier} 级客户，上限 {cap} 个", "you hold {held} {tier} customers; the cap is {cap}"),
    ("claim_refusal_holding_cap", "已持有 {held} 个客户，上限 {cap} 个", "you hold {held} customers; the cap is {cap}"),
    ("claim_refusal_claim_limit", "今日已认领 {claims} 次，每日上限 {limit} 次", "{claims} claims today; the limit is {limit} a day"),
    ("claim_refusal_cooldown_released", "你于 {lost_on} 退回了该客户，{claimable_from} 起可再认领", "you released it on {lost_on}; claimable from {claimable_from}"),
    ("claim_refusal_cooldown_reclaimed", "该客户于 {lost_on} 被回收，{claimable_from} 起可再认领", "it was reclaimed from you on {lost_on}; claimable from {claimable_from}"),
    ("claim_refusal_cooldown_taken", "该客户于 {lost_on} 从你名下转出，{claimable_from} 起可再认领", "it left you on {lost_on}; claimable from {claimable_from}"),
    ("claim_refusal_absent_until", "休假至 {until}", "away until {until}"),
    ("team_saved", "团队已保存。", "The team is saved."),
    ("team_name", "团队名称", "Team name"),
    ("team_parent", "上级团队", "Parent team"),
];

/// The words of one language, by key, as templates read them (`t.sign_in`); built once per
/// language, since every page asks for them several times.
pub fn words(language: Language) -> &'static BTreeMap<&'static str, &'static str> {
    static CHINESE: OnceLock<BTreeMap<&'static str, &'static str>> = OnceLock::new();
    static ENGLISH: OnceLock<BTreeMap<&'static str, &'static str>> = OnceLock::new();
    let built = match language {
        Language::Chinese => &CHINESE,
        Language::English => &ENGLISH,
    };
    built.get_or_init(|| {
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
    })
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

    #[test]
    fn every_key_a_template_builds_from_a_value_is_in_the_catalogue() {
        let mut keys: Vec<String> = Vec::new();
        keys.extend(
            allot_core::pool::TransferReason::ALL
                .iter()
                .map(|reason| format!("reason_{}", reason.as_str())),
        );
        keys.extend(
            allot_core::pool::TransferState::ALL
                .iter()
                .map(|state| format!("state_{}", state.as_str())),
        );
        keys.extend(
            allot_files::import::ImportKind::ALL
                .iter()
                .map(|kind| format!("kind_{}", kind.plural())),
        );
        keys.extend(["rep", "manager", "admin"].map(|role| format!("role_{role}")));
        keys.extend(
            [
                "owned_by",
                "holding_cap_tier",
                "holding_cap",
                "claim_limit",
                "cooldown_released",
                "cooldown_reclaimed",
                "cooldown_taken",
                "absent_until",
            ]
            .map(|kind| format!("claim_refusal_{kind}")),
        );
        keys.extend(
            ["approve", "reject", "accept", "decline", "cancel"].map(|step| format!("do_{step}")),
        );
        for key in keys {
            assert!(
                CATALOGUE.iter().any(|(known, ..)| *known == key),
                "{key} is missing"
            );
        }
    }
}
