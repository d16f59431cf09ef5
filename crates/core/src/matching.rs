//! Match keys for duplicate customers (撞单): two customers sharing any key are probably one.
//!
//! A key is a normal form in which the spellings people really use for one company or contact
//! coincide: full-width or half-width, with or without 有限公司 or "Co., Ltd.", with or without
//! the 深圳市 that a registration adds in front of the brand.

use std::borrow::Cow;

use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

use crate::contact::{CreditCode, Email, Phone};
use crate::customer::{Customer, CUSTOMER_COLUMNS};

/// Legal-form endings of Chinese company names, a longer ending before any ending of it.
const CHINESE_COMPANY_SUFFIXES: &[&str] = &[
    "集团有限公司",
    "有限责任公司",
    "股份有限公司",
    "有限公司",
    "集团",
    "公司",
];

/// Legal-form endings of English company names as they read once spaces and dots are gone,
/// a longer ending before any ending of it. Each must be whole words, so that "Zinc" keeps its
/// "inc" and "Unlimited" its "limited".
#[rustfmt::skip]
const ENGLISH_COMPANY_SUFFIXES: &[&str] = &[
    "companylimited", "colimited", "incorporated", "corporation", "company",
    "limited", "coltd", "group", "corp", "ltd", "inc", "llc", "co",
];

/// Provincial-level names (省, 直辖市, 自治区, 特别行政区) in their short form.
#[rustfmt::skip]
const PROVINCES: &[&str] = &[
    "北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江", "安徽",
    "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州", "云南", "陕西",
    "甘肃", "青海", "台湾", "内蒙古", "广西", "西藏", "宁夏", "新疆", "香港", "澳门",
];

/// What may follow a short provincial name, longest first; the bare name (北京字节跳动) is
/// removed too.
const PROVINCE_FORMS: &[&str] = &[
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "特别行政区",
    "自治区",
    "省",
    "市",
];

/// Prefecture-level cities that often open a registered name. Names that are also ordinary
/// words or brands (中山, 大同) are left out: removing them would join unrelated companies.
#[rustfmt::skip]
const CITIES: &[&str] = &[
    "深圳", "广州", "杭州", "南京", "苏州", "成都", "武汉", "西安", "郑州", "长沙", "青岛", "厦门",
    "宁波", "大连", "沈阳", "济南", "合肥", "福州", "昆明", "东莞", "佛山", "无锡", "哈尔滨", "长春",
    "石家庄", "太原", "南昌", "南宁", "贵阳", "兰州", "海口", "珠海", "温州", "常州", "烟台", "泉州",
    "唐山", "徐州", "乌鲁木齐", "呼和浩特", "银川", "西宁", "拉萨", "三亚", "惠州", "嘉兴", "绍兴", "金华",
    "台州", "湖州", "南通", "扬州", "镇江", "盐城", "泰州", "潍坊", "淄博", "临沂", "济宁", "威海",
    "洛阳", "宜昌", "襄阳", "芜湖", "江门", "汕头", "湛江", "保定", "廊坊", "秦皇岛", "邯郸", "大庆",
    "鞍山", "柳州", "桂林", "绵阳", "遵义", "赣州", "九江", "株洲", "岳阳", "衡阳", "漳州", "莆田",
];

/// What may follow a city name, besides nothing.
const CITY_FORMS: &[&str] = &["市"];

/// Phones with fewer digits than this are extensions or short codes shared by many
/// customers, so they would join unrelated ones.
const MINIMUM_PHONE_DIGITS_FOR_MATCHING: usize = 7;

/// The company name in match form, or `None` when nothing identifying is left (empty, only
/// punctuation or symbols, or only a legal form such as "有限公司" or "Ltd.").
///
/// Full-width characters are folded to half-width, letters to lower case, and everything but
/// letters and digits dropped (so brackets go and their content stays: 腾讯科技（深圳）→
/// 腾讯科技深圳). Legal-form endings are then removed, then one leading province and one city.
/// A removal that would leave fewer than two characters is not made.
pub fn normalised_name(name: &str) -> Option<String> {
    let folded = folded_name(name);
    let mut key = String::with_capacity(folded.len());
    // Byte offsets in `key` where a word began: English legal forms only count as whole words.
    let mut word_starts: Vec<usize> = Vec::new();
    let mut previous_kept: Option<char> = None;
    for character in folded.chars() {
        if !character.is_alphanumeric() {
            previous_kept = None;
            continue;
        }
        // A change between Latin and Chinese script is a word break too ("腾讯Ltd").
        let starts_word = match previous_kept {
            None => true,
            Some(previous) => previous.is_ascii() != character.is_ascii(),
        };
        if starts_word {
            word_starts.push(key.len());
        }
        key.push(character);
        previous_kept = Some(character);
    }
    if key.is_empty() {
        return None;
    }

    while let Some(cut) = company_suffix_start(&key, &word_starts) {
        if cut == 0 {
            // Nothing but legal forms: such a name identifies no one, and keying on it would
            // join every record whose name was left as a placeholder.
            return None;
        }
        if !has_at_least_two_characters(&key[..cut]) {
            break;
        }
        key.truncate(cut);
        while word_starts.last().is_some_and(|start| *start >= cut) {
            word_starts.pop();
        }
    }

    let without_province = strip_place_prefix(&key, PROVINCES, PROVINCE_FORMS);
    let without_city = strip_place_prefix(without_province, CITIES, CITY_FORMS);
    Some(without_city.to_string())
}

/// Where the legal-form ending of `key` begins, if it has one.
fn company_suffix_start(key: &str, word_starts: &[usize]) -> Option<usize> {
    CHINESE_COMPANY_SUFFIXES
        .iter()
        .find_map(|suffix| key.strip_suffix(suffix).map(str::len))
        .or_else(|| {
            ENGLISH_COMPANY_SUFFIXES.iter().find_map(|suffix| {
                key.strip_suffix(suffix)
                    .map(str::len)
                    .filter(|cut| word_starts.binary_search(cut).is_ok())
            })
        })
}

/// `key` without one leading place of `places`, followed by one
/// of `forms` or by nothing, unless that would leave fewer than two characters: a name that
/// is only a place (北京) is still a name.
fn strip_place_prefix<'key>(key: &'key str, places: &[&str], forms: &[&str]) -> &'key str {
    for place in places {
        let Some(after_place) = key.strip_prefix(place) else {
            continue;
        };
        for form in forms.iter().chain(&[""]) {
            if let Some(rest) = after_place.strip_prefix(form) {
                return if has_at_least_two_characters(rest) {
                    rest
                } else {
                    key
                };
            }
        }
    }
    key
}

/// The name in NFKC, lower case: `name.nfkc().collect::<String>().to_lowercase()`, without
/// the two copies when they would change nothing, as for most names (a first import computes
/// a million of these).
pub fn folded_name(name: &str) -> Cow<'_, str> {
    let folded: Cow<'_, str> = match is_nfkc_quick(name.chars()) {
        IsNormalized::Yes => Cow::Borrowed(name),
        IsNormalized::No | IsNormalized::Maybe => Cow::Owned(name.nfkc().collect()),
    };
    if folded.chars().all(lowercases_to_itself) {
        folded
    } else {
        Cow::Owned(folded.to_lowercase())
    }
}

/// Whether lower-casing leaves the character as it is; a string of only such characters is
/// its own lower case (the one context rule of `str::to_lowercase`, for Σ, concerns a
/// character that changes).
fn lowercases_to_itself(character: char) -> bool {
    if character.is_ascii() {
        return !character.is_ascii_uppercase();
    }
    let mut lower = character.to_lowercase();
    lower.next() == Some(character) && lower.next().is_none()
}

/// Counting only as far as needed keeps long names linear.
fn has_at_least_two_characters(text: &str) -> bool {
    text.chars().nth(1).is_some()
}

/// The field a match key comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MatchField {
    Name,
    Phone,
    Email,
    CreditCode,
}

impl MatchField {
    /// Every field, strongest evidence of one company first: a credit code names one legal
    /// entity, a name in match form only probably does.
    pub const BY_STRENGTH: [MatchField; 4] = [
        MatchField::CreditCode,
        MatchField::Phone,
        MatchField::Email,
        MatchField::Name,
    ];

    /// Position in [`MatchField::BY_STRENGTH`]: lower is stronger.
    pub fn strength_rank(self) -> usize {
        MatchField::BY_STRENGTH
            .iter()
            .position(|field| *field == self)
            .unwrap_or(usize::MAX)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MatchField::Name => "name",
            MatchField::Phone => "phone",
            MatchField::Email => "email",
            MatchField::CreditCode => "credit_code",
        }
    }
}

/// One value a customer is matched on; two customers with an equal key are candidates for
/// being one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MatchKey {
    pub field: MatchField,
    pub key: String,
}

impl MatchKey {
    /// The key as one text, field first (`phone:13800138000`), as the store indexes it.
    pub fn stored_form(&self) -> String {
        format!("{}:{}", self.field.as_str(), self.key)
    }

    /// A 64-bit fingerprint of the key (FNV-1a over its stored form), as the store indexes it:
    /// an integer index is a fraction of the size of one over the texts. Stable across builds
    /// and platforms, since stored fingerprints are compared with fresh ones; two keys may share
    /// one, so a match by fingerprint is confirmed on the keys themselves.
    pub fn fingerprint(&self) -> i64 {
        const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let mut hash = OFFSET;
        let field = self.field.as_str().as_bytes();
        for byte in field.iter().chain(b":").chain(self.key.as_bytes()) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(PRIME);
        }
        i64::from_ne_bytes(hash.to_ne_bytes())
    }
}

/// The keys of a customer record (see [`match_keys`]).
pub fn customer_match_keys(customer: &Customer) -> Vec<MatchKey> {
    match_keys(
        &customer.name,
        customer.phone.as_ref(),
        customer.email.as_ref(),
        customer.credit_code.as_ref(),
    )
}

/// Columns a merge never fills from the duplicate: the id stays the older record's, the owner
/// is decided by the conflict, and the tier follows grading.
const COLUMNS_KEPT_ON_MERGE: &[&str] = &["id", "owner_id", "tier"];

/// The existing customer after merging a duplicate record into it: every column the existing
/// record leaves empty takes the duplicate's value, attributes it lacks are added, and the
/// earlier creation time is kept. Returns the merged record and the columns it filled.
pub fn merge_duplicate(existing: &Customer, duplicate: &Customer) -> (Customer, Vec<&'static str>) {
    let mut merged = existing.clone();
    let mut filled = Vec::new();
    for column in CUSTOMER_COLUMNS {
        if COLUMNS_KEPT_ON_MERGE.contains(&column.name) || column.name == "created_at" {
            continue;
        }
        if merged.column_text(column).is_empty() && !duplicate.column_text(column).is_empty() {
            (column.copy)(&mut merged, duplicate);
            filled.push(column.name);
        }
    }
    if let Some(earlier) = duplicate.created_at {
        if merged.created_at.is_none_or(|created| earlier < created) {
            merged.created_at = Some(earlier);
            filled.push("created_at");
        }
    }
    for (key, value) in &duplicate.attributes {
        if !merged.attributes.contains_key(key) {
            merged.attributes.insert(key.clone(), value.clone());
            filled.push("attributes");
        }
    }
    filled.dedup();
    if merged.parent_id.as_ref() == Some(&merged.id) {
        // The duplicate named the existing customer as its parent: that is no parent of its own.
        merged.parent_id = existing.parent_id.clone();
        filled.retain(|name| *name != "parent_id");
    }
    (merged, filled)
}

/// The keys one customer is matched on: the name in match form and each contact given, in
/// the order name, phone, email, credit code.
pub fn match_keys(
    name: &str,
    phone: Option<&Phone>,
    email: Option<&Email>,
    credit_code: Option<&CreditCode>,
) -> Vec<MatchKey> {
    let mut keys = Vec::with_capacity(4);
    let mut add = |field: MatchField, key: String| {
        if !key.is_empty() {
            keys.push(MatchKey { field, key });
        }
    };
    if let Some(key) = normalised_name(name) {
        add(MatchField::Name, key);
    }
    if let Some(phone) = phone {
        let digits = phone.as_str().chars().filter(char::is_ascii_digit).count();
        if digits >= MINIMUM_PHONE_DIGITS_FOR_MATCHING {
            add(MatchField::Phone, phone.as_str().to_string());
        }
    }
    if let Some(email) = email {
        // Rows stored before addresses were checked load unchanged (`Email::from_stored`);
        // folding again changes nothing for parsed ones and lets the old ones match.
        add(MatchField::Email, email.as_str().trim().to_lowercase());
    }
    if let Some(credit_code) = credit_code {
        add(
            MatchField::CreditCode,
            credit_code.as_str().trim().to_uppercase(),
        );
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    use self::Expected::{Differs, Key, NoKey, Same};
    use super::MatchField::{CreditCode as Code, Email as Mail, Name, Phone as Tel};

    /// What one raw value must give: exactly this key, no key, or the key (or not the key)
    /// of another raw value of the same field.
    #[derive(Debug, Clone, Copy)]
    enum Expected {
        Key(&'static str),
        NoKey,
        Same(&'static str),
        Differs(&'static str),
    }

    /// The key of `field` that `raw` gives, parsed as contact.rs parses it.
    fn key_of(field: MatchField, raw: &str) -> Option<String> {
        let phone = (field == Tel).then(|| Phone::parse("phone", raw).unwrap());
        let email = (field == Mail).then(|| Email::parse("email", raw).unwrap());
        let code = (field == Code).then(|| CreditCode::parse("credit_code", raw).unwrap());
        let name = if field == Name { raw } else { "" };
        let keys = match_keys(name, phone.as_ref(), email.as_ref(), code.as_ref());
        assert!(keys.len() <= 1, "{raw:?}: {keys:?}");
        keys.into_iter().next().map(|key| {
            assert_eq!(key.field, field, "{raw:?}");
            key.key
        })
    }

    fn check(field: MatchField, raw: &str, expected: Expected) {
        let key = key_of(field, raw);
        let context = format!("{} {raw:?}: {key:?}, expected {expected:?}", field.as_str());
        match expected {
            Key(wanted) => assert_eq!(key.as_deref(), Some(wanted), "{context}"),
            NoKey => assert_eq!(key, None, "{context}"),
            Same(other) => {
                assert!(key.is_some(), "{context}");
                assert_eq!(key, key_of(field, other), "{context}");
            }
            Differs(other) => {
                assert!(key.is_some(), "{context}");
                assert_ne!(key, key_of(field, other), "{context}");
            }
        }
    }

    /// The fast path of `folded_name` against the plain form, on the characters where case
    /// and compatibility forms are irregular: full-width, titlecase ǅ, dotted İ (two characters
    /// in lower case), final Σ (a context rule), ligatures, superscripts, Chinese, and mixes.
    #[test]
    fn folded_name_is_nfkc_then_lower_case() {
        let names = [
            "",
            "abc",
            "ABC",
            "ＡＢＣ　Trading",
            "ǅemal",
            "İstanbul",
            "ΟΔΟΣ",
            "ΣΟΦΙΑ Σ",
            "ﬁnance",
            "x²",
            "腾讯科技（深圳）",
            "北京字节跳动",
            "Ⅻ",
            "ÅNGSTRÖM",
            "ß",
            "ẞ",
            "e\u{301}",
            "Ωmega",
            "ＫＫ株式会社",
            "㈱日立",
        ];
        for name in names {
            let plain = name.nfkc().collect::<String>().to_lowercase();
            assert_eq!(folded_name(name), plain, "{name:?}");
        }
    }

    const NAMES: &[(&str, Expected)] = &[
        ("深圳市腾讯计算机系统有限公司", Key("腾讯计算机系统")),
        ("深圳市腾讯计算机系统有限公司", Same("腾讯计算机系统")),
        ("ＡＢＣ　Trading Co., Ltd.", Same("abc trading")),
        ("ＡＢＣ　Trading Co., Ltd.", Key("abctrading")),
        ("腾讯科技（深圳）有限公司", Key("腾讯科技深圳")),
        ("腾讯科技(深圳)有限公司", Key("腾讯科技深圳")),
        ("腾讯科技", Differs("腾讯计算机系统")),
        ("北京字节跳动", Same("字节跳动")),
        ("华为技术有限公司", Same("华为技术")),
        ("华为技术", Differs("华为终端")),
        ("Apple Inc.", Same("apple")),
        ("Apple Inc.", Differs("Applied Materials")),
        ("广东省深圳市腾讯", Key("腾讯")),
        ("广西壮族自治区桂林三金药业", Key("三金药业")),
        ("新疆维吾尔自治区天山纺织", Key("天山纺织")),
        ("香港特别行政区长江实业集团", Key("长江实业")),
        ("万达集团股份有限公司", Key("万达")),
        ("湖南华菱钢铁", Same("华菱钢铁集团")),
        ("上海 浦东 发展银行", Key("浦东发展银行")),
        ("上海浦东发展银行股份有限公司", Key("浦东发展银行")),
        ("阿里巴巴（中国）网络技术", Key("阿里巴巴中国网络技术")),
        ("【京东】商城", Key("京东商城")),
        ("小米·科技", Same("小米科技")),
        ("Microsoft Corporation", Same("MICROSOFT CORP.")),
        ("Ｓｏｎｙ Group Corporation", Same("sony")),
        ("Acme Group Co., Ltd.", Key("acme")),
        ("O'Reilly Media, Inc.", Key("oreillymedia")),
        ("Zinc", Key("zinc")),
        ("Unlimited Ltd", Key("unlimited")),
        ("X Ltd", Key("xltd")),
        ("北京", Key("北京")),
        ("北京市场", Key("北京市场")),
        ("Ltd.", NoKey),
        ("有限公司", NoKey),
        ("", NoKey),
        ("   ", NoKey),
        ("。，、！——……", NoKey),
        ("🙂🚀", NoKey),
    ];

    const PHONES: &[(&str, Expected)] = &[
        ("13800138000", Same("+86 138-0013-8000")),
        ("0086 13800138000", Same("13800138000")),
        ("8613800138000", Same("13800138000")),
        ("13800138000", Differs("13800138001")),
        ("(010) 6552-8888", Same("+86 10 6552 8888")),
        ("+44 20 7946 0958", Same("0044 20 7946 0958")),
        ("+44 20 7946 0958", Differs("20 7946 0958")),
        ("1234567", Key("1234567")),
        ("123456", NoKey),
        ("12345", NoKey),
    ];

    const EMAILS: &[(&str, Expected)] = &[
        (" Wang.Fang@Example.CN ", Same("wang.fang@example.cn")),
        ("WANG.FANG@EXAMPLE.CN", Key("wang.fang@example.cn")),
        ("wang.fang@example.cn", Differs("wang.fang@example.com")),
        ("wangfang@example.cn", Differs("wang.fang@example.cn")),
        ("销售@例子.中国", Key("销售@例子.中国")),
    ];

    const CODES: &[(&str, Expected)] = &[
        ("91350100M000100Y43", Same("91350100m000100y43 ")),
        ("9135-0100 M000 100Y43", Key("91350100M000100Y43")),
        ("91350100M000100Y43", Differs("91440300MA5F000007")),
        ("91110000802100433B", Differs("91440300MA5F000007")),
    ];

    #[test]
    fn match_keys_join_spellings_of_one_customer_and_only_those() {
        let tables = [(Name, NAMES), (Tel, PHONES), (Mail, EMAILS), (Code, CODES)];
        for (field, cases) in tables {
            for (raw, expected) in cases {
                check(field, raw, *expected);
            }
        }
    }

    #[test]
    fn every_contact_gives_its_key_in_field_order() {
        let phone = Phone::parse("phone", "13800138000").unwrap();
        let email = Email::parse("email", "a@example.com").unwrap();
        let code = CreditCode::parse("credit_code", "91350100M000100Y43").unwrap();
        let keys = match_keys("腾讯", Some(&phone), Some(&email), Some(&code));
        let fields: Vec<MatchField> = keys.into_iter().map(|key| key.field).collect();
        assert_eq!(fields, [Name, Tel, Mail, Code]);
    }

    #[test]
    fn long_and_odd_names_do_not_panic() {
        let long_brand = format!("{}有限公司", "腾".repeat(100_000));
        let long_key = normalised_name(&long_brand).map(|key| key.chars().count());
        assert_eq!(long_key, Some(100_000));
        assert_eq!(normalised_name(&"ltd ".repeat(100_000)), None);
        assert_eq!(normalised_name(&"Co. ".repeat(50_000)), None);
        for odd in "\u{0} \u{301} İstanbul ﷺ \u{FEFF} (( 省市 北京市".split(' ') {
            let _ = normalised_name(odd);
        }
    }

    #[test]
    fn fingerprints_stay_the_same_from_build_to_build() {
        // Fingerprints are stored: they must not change from build to build.
        let phone = MatchKey {
            field: MatchField::Phone,
            key: "13800138000".to_string(),
        };
        assert_eq!(phone.fingerprint(), 2_525_459_707_089_965_137);
        let name = MatchKey {
            field: MatchField::Name,
            key: "13800138000".to_string(),
        };
        assert_ne!(name.fingerprint(), phone.fingerprint());
    }

    #[test]
    fn a_merge_fills_only_what_the_existing_record_lacks() {
        let id = |raw: &str| crate::CustomerId::parse(raw).unwrap();
        let mut existing = Customer::new(id("CU1"));
        existing.name = "腾讯计算机系统".to_string();
        existing.phone = Some(Phone::parse("phone", "13800138000").unwrap());
        existing.created_at = Some("2026-03-01T00:00:00Z".parse().unwrap());
        existing
            .attributes
            .insert("crm".to_string(), "old".to_string());
        let mut duplicate = Customer::new(id("CU9"));
        duplicate.name = "深圳市腾讯计算机系统有限公司".to_string();
        duplicate.phone = Some(Phone::parse("phone", "13900139000").unwrap());
        duplicate.email = Some(Email::parse("email", "it@tencent.example").unwrap());
        duplicate.owner_id = Some(crate::RepId::parse("r9").unwrap());
        duplicate.parent_id = Some(id("CU1"));
        duplicate.created_at = Some("2026-01-01T00:00:00Z".parse().unwrap());
        duplicate
            .attributes
            .insert("crm".to_string(), "new".to_string());
        duplicate
            .attributes
            .insert("wechat".to_string(), "tx".to_string());
        let (merged, filled) = merge_duplicate(&existing, &duplicate);
        assert_eq!(merged.id, existing.id);
        assert_eq!(merged.name, existing.name);
        assert_eq!(merged.phone, existing.phone);
        assert_eq!(merged.email, duplicate.email);
        assert_eq!(
            merged.owner_id, None,
            "the owner is the conflict's to decide"
        );
        assert_eq!(merged.parent_id, None, "a customer is not its own parent");
        assert_eq!(
            merged.created_at, duplicate.created_at,
            "the earlier creation"
        );
        assert_eq!(merged.attributes["crm"], "old");
        assert_eq!(merged.attributes["wechat"], "tx");
        assert_eq!(filled, ["email", "created_at", "attributes"]);
    }
}
