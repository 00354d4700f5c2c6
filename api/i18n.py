"""The words of the buyer's page, in English and Simplified Chinese.

The language comes from ``?lang=`` when given, else from ``Accept-Language`` (RFC 9110
quality values), else English. Every key exists in every language: a test holds them
to that, so a page never shows a missing word.
"""

from __future__ import annotations

import re
from datetime import date

from markupsafe import Markup, escape

LANGUAGES = {"en": "English", "zh": "简体中文"}
DEFAULT = "en"

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "title": "Vehicle history {vin}",
        "verdict_clean": "No problems reported",
        "verdict_clean_note": "No odometer rollback, title brand, accident, theft, flood, fire, "
        "hail, vandalism, structural or airbag damage, total loss or open recall is on record "
        "for this vehicle.",
        "verdict_problems_one": "{count} problem reported",
        "verdict_problems_other": "{count} problems reported",
        "vehicle": "Vehicle",
        "make": "Make",
        "country": "Country",
        "model_year": "Model year",
        "unknown": "unknown",
        "latest_grade": "Latest inspection grade",
        "last_km": "Last odometer reading",
        "owners": "Owners on record",
        "entries": "Entries",
        "entries_count_one": "{count} entry",
        "entries_count_other": "{count} entries",
        "terms": "Guarantees attached at sale",
        "terms_none": "No warranty or return policy is attached to a sale of this vehicle.",
        "terms_until": "until {date}, 23:59 {zone}",
        "zone_named": "{zone} time ({utc})",
        "zone_Asia/Shanghai": "Beijing",
        "date": "{day} {month} {year}",
        "months": "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec",
        "policy_return-7d": "7-day return",
        "policy_powertrain-30d": "30-day powertrain warranty",
        "policy_limited-90d": "90-day limited warranty",
        "policy_reinspection-lifetime": "Lifetime re-inspection",
        "terms_km": "up to {km} km",
        "terms_ended": "ended",
        "terms_unavailable": "in force, but claims under it cannot be decided while its "
        "plugin is not installed on this ledger",
        "terms_returned": "ended: the car was returned, entry {index}",
        "terms_replaced": "ended: the sale was disputed and recorded again",
        "terms_sold_on": "ended: the car was sold again",
        "terms_sold_on_disputed": "ended for its dealer: the car was sold again, by a sale the "
        "operator disputes; the operator may still file a return",
        "terms_unstated": "named at sale, but logged before this ledger stated a policy's "
        "terms: no claim can be decided under it here; ask the dealer",
        "timeline": "Timeline",
        "odometer": "Odometer readings",
        "odometer_none": "No odometer readings on record.",
        "odometer_backwards": "reading lower than an earlier one",
        "backwards_note": "This reading is lower than {from_km} recorded earlier (entry {index}).",
        "chart_summary": "{count} readings from {first} to {last}",
        "signed_by": "signed by {name} ({role})",
        "converted_by": (
            "Signed in the partner's own report format; what is shown is how this ledger's "
            "plugin {provider} reads it"
        ),
        "entry": "entry {index}",
        "corrected_by": "Corrected by entry {index} ({name}): {reason}",
        "correction_ignored": "Not applied",
        "corrects": "corrects entry {index}",
        "disputes": "disputes entry {index}",
        "dispute_resolves": "resolves the dispute of entry {index}",
        "complaint_sale": "about the sale, entry {index}",
        "attachment": "Attachment",
        "verification": "Verification",
        "verifying": "Verifying in your browser…",
        "verified": "Verified in your browser at {time}: {entries} entries against the "
        "log's checkpoint of {size} entries.",
        "failed": "VERIFICATION FAILED: {count} check(s) failed. Do not rely on this history.",
        "unverified": "This history could not be verified in your browser: do not trust "
        "anything on this page, however clean it looks. The details are below.",
        "unsupported": "This browser cannot check the history's signatures. Open this page "
        "in a current Chrome, Firefox or Safari to verify it, or run the command under "
        "“Verify offline” below.",
        "not_verified_yet": "Not verified yet.",
        "unchecked": "Could not check this history: the proof did not download ({reason}). "
        "No check failed; check your connection and try again.",
        "retry": "Try again",
        "verdict_not_verified": "(not verified)",
        "preview_verify": "Open the page to verify it in your browser.",
        "noscript": "This page could not check itself: JavaScript is off. Everything below "
        "is still shown, but not verified. Open the page with JavaScript on, or check it with "
        "vinledger verify (under “Verify offline” below).",
        "verify_independently": "This check runs code from this site: it catches damaged or "
        "outdated records, not a dishonest site. To check independently, run vinledger verify "
        "(see “Verify offline”) with the log's key from its operator, not from this page, or "
        "use someone else's verifier.",
        "entry_kind": "entry {index} ({kind})",
        "detail_sep": ": ",
        "as_of": "History as of {date}, {time} {zone}: {entries}, log checkpoint {size}.",
        "as_of_current": "The QR code opens the current history, which may have more entries.",
        "vkey_note": "The log's verifier key. Compare it with the key the ledger operator "
        "publishes; pin it in your own tools rather than trusting this page.",
        "verify_offline": "Verify offline",
        "links": "Downloads",
        "json": "History (JSON)",
        "bundle": "Proof bundle",
        "sticker": "Window sticker",
        "qr": "QR code",
        "badge": "Badge for listings",
        "language": "Language",
        "scan": "Scan to see this car's verified history",
        "alert_odometer_rollback": "Odometer went back from {from_km} km to {to_km} km",
        "alert_title_brand": "Title branded: {brand}",
        "alert_damage": "{flag} damage reported",
        "alert_claim_damage": "{flag} damage reported by an insurer ({severity})",
        "alert_theft": "Stolen and recovered, reported by an insurer ({severity})",
        "alert_other_claim": "Insurance claim for another cause ({severity})",
        "alert_total_loss": "Declared a total loss by an insurer",
        "alert_accident": "Accident reported by an insurer ({severity})",
        "alert_airbag_deployed": "Airbag deployed",
        "alert_recall_open": "Open recall {campaign}: {component}",
        "alert_implausible_rate": "Implausible mileage: {km} km in {days} days",
        "alert_service_gap": "No service recorded for {days} days",
        "alert_correction_not_applied": (
            "A correction of entry {corrects} could not be applied and is left out"
        ),
        "alert_odometer_corrected": (
            "The odometer reading of entry {corrects} was corrected: {from_km} → {to_km}"
        ),
        "alert_odometer_redated": (
            "The date of entry {corrects}'s odometer reading ({km}) was corrected: "
            "{from_date} → {to_date}"
        ),
        "alert_hid_rollback": "; it hid a rollback from {from_km} to {to_km}",
        "alert_finding_withdrawn": (
            "What entry {corrects} reported was withdrawn by a correction ({by}, entry "
            "{corrections}): {withdrawn}"
        ),
        "alert_withdrawn_damage": "{flag} damage",
        "alert_withdrawn_value": "{field}: {was} (now {now})",
        "disputed": "disputed",
        "alert_reports": "{text} — {count} reports",
        # The listing badge names each problem by its alert's type, briefly.
        "badge_no_records": "no records",
        "badge_not_verified": "NOT VERIFIED",
        "badge_no_alerts": "no alerts",
        "problem_odometer_rollback": "odometer rollback",
        "problem_accident": "accident",
        "problem_theft": "theft",
        "problem_other_claim": "other claim",
        "problem_total_loss": "total loss",
        "problem_airbag_deployed": "airbag deployed",
        "problem_recall_open": "recall open",
        "problem_implausible_rate": "implausible rate",
        "problem_service_gap": "service gap",
        "problem_correction_not_applied": "correction not applied",
        "problem_odometer_corrected": "odometer corrected",
        "problem_odometer_redated": "odometer redated",
        "problem_finding_withdrawn": "finding withdrawn",
        "problem_title_brand": "title brand {brand}",
        "problem_damage": "{flag} damage",
        "last_trusted": "Last trusted odometer reading",
        "last_trusted_none": "none: no reading can be trusted",
        "last_km_untrusted": "not trusted, see the problems above",
        "kind_inspection": "Inspection",
        "kind_maintenance": "Maintenance",
        "kind_odometer": "Odometer reading",
        "kind_insurance_claim": "Insurance claim",
        "kind_title_brand": "Title brand",
        "kind_transfer": "Change of owner",
        "kind_sale": "Sale",
        "kind_recall": "Recall",
        "kind_correction": "Correction",
        "kind_return_request": "Return request",
        "kind_warranty_claim": "Warranty claim",
        "kind_claim_decision": "Claim decision",
        "kind_dispute": "Dispute",
        "kind_complaint": "Complaint",
        "kind_actor": "Partner added",
        "kind_key_grant": "Key granted",
        "kind_key_revoke": "Key revoked",
        "field_decision": "Decision",
        "approved": "approved",
        "denied": "refused",
        "covers": "Covers",
        "excludes": "Excludes",
        "items_sep": "; ",
        # The English page shows a policy's terms and decisions as the ledger stated them;
        # these say them from their fields on a page in another language.
        "original": "In the ledger's own words:",
        "field_original": "In the ledger's own words",
        "terms_when": "Until {scope}",
        "terms_when_always": "With no end date or km limit",
        "terms_scope_until": "{date}, 23:59 {zone}",
        "terms_scope_km": "a reading of {km}",
        "terms_scope_and": " and ",
        "terms_said_return": "{when}, the car may be returned to the dealer.",
        "terms_said_warranty": "{when}, repairs of the components below are under warranty.",
        "terms_said_reinspection": "{when}, the car may be re-inspected on request.",
        "terms_said_other": "{when}; the terms are in the ledger's own words below.",
        "decision_facts": "claimed {days} days after the sale",
        "decision_facts_km": "claimed {days} days and {km} after the sale",
        "decision_approved": "{facts}: covered by {policy}, approved.",
        "decision_denied": "{facts}: {why}, refused.",
        "decision_before_sale": "the claim is dated before the sale",
        "decision_not_covered": "{component} is not covered by {policy}",
        "decision_repeat": "the same component was already approved, entry {index}",
        "decision_past_end": "{policy} ended on {date}",
        "decision_past_km": "the reading of {km} is past {policy}'s limit of {limit}",
        "decision_other": "why is in the ledger's own words below",
        # Components as claims name them (the built-in policies' IDs).
        "component_engine": "engine",
        "component_transmission": "transmission",
        "component_drive-axle": "drive-axle",
        "component_brakes": "brakes",
        "component_steering": "steering",
        "component_suspension": "suspension",
        "component_electrics": "electrics",
        "component_air-conditioning": "air-conditioning",
        "component_cooling": "cooling",
        "component_reinspection": "reinspection",
        "exclusion_wear_items": "wear items (tyres, brake pads and discs, clutch disc, wiper "
        "blades, filters)",
        "exclusion_after_sale_damage": "damage from an accident, flood, fire or misuse after "
        "the sale",
        "role_operator": "ledger operator",
        "role_inspector": "inspector",
        "role_workshop": "workshop",
        "role_insurer": "insurer",
        "role_registry": "registry",
        "role_dealer": "dealer",
        "role_referrer": "referrer",
        "flag_accident": "Accident",
        "flag_flood": "Flood",
        "flag_fire": "Fire",
        "flag_structural": "Structural",
        "flag_airbag": "Airbag",
        "flag_hail": "Hail",
        "flag_vandalism": "Vandalism",
        "brand_salvage": "salvage",
        "brand_rebuilt": "rebuilt",
        "brand_flood": "flood",
        "brand_fire": "fire",
        "brand_hail": "hail",
        "brand_lemon": "lemon",
        "brand_odometer_not_actual": "odometer not actual",
        "brand_total_loss": "total loss",
        "brand_junk": "junk",
        "field_grade": "Grade",
        "field_provider": "Provider",
        "field_findings": "Findings",
        "field_flags": "Damage found",
        "field_none": "none",
        "field_removed": "removed",
        "field_yes": "yes",
        "field_no": "no",
        "field_shop": "Shop",
        "field_work": "Work done",
        "field_parts": "Parts",
        "field_cost": "Cost",
        "field_source": "Source",
        "field_cause": "Cause",
        "field_severity": "Severity",
        "field_areas": "Areas",
        "field_jurisdiction": "Jurisdiction",
        "field_note": "Note",
        "field_dealer": "Dealer",
        "field_price": "Price",
        "field_policies": "Guarantees",
        "field_policy": "Under",
        "field_campaign": "Campaign",
        "field_component": "Component",
        "field_status": "Status",
        "field_reason": "Reason",
        "field_fields": "Changes",
        "field_set": "{field}: {value}",
        "field_change": "{field} → {value}",
        "field_total_loss": "Total loss",
        "field_structural": "Structural damage",
        "field_airbag_deployed": "Airbag deployed",
        "field_claim_ref": "Claim reference",
        "field_inspector": "Inspector",
        "field_odometer_km": "Odometer",
        "field_occurred_at": "Date",
        "field_description": "Description",
        "field_summary": "Complaint",
        "field_upheld": "Upheld after review",
        "field_items": "Checklist",
        "field_attachments": "Attachments",
        "field_brand": "Title brand",
        "logged_on": "logged {date}",
        "logged_late_one": "Logged {days} day after the date it gives",
        "logged_late_other": "Logged {days} days after the date it gives",
        "logged_late_corrected_one": "Logged {days} day after the date correction {index} gives it",
        "logged_late_corrected_other": "Logged {days} days after the date correction {index} "
        "gives it",
        "km_corrected": "{km} (corrected from {was})",
        "km_removed": "{was} (removed by a correction)",
        "late_note_one": "{count} entry was logged more than {days} days after its date "
        "(a date is its signer's word; when it was logged, the ledger's)",
        "late_note_other": "{count} entries were logged more than {days} days after their "
        "date (a date is its signer's word; when it was logged, the ledger's)",
        "key_revoked_later": "Signed with a key revoked later, on {date}: {reason}",
        "revoked_note_one": "{count} entry is signed with a key revoked later; why is said "
        "beside it",
        "revoked_note_other": "{count} entries are signed with a key revoked later; why is "
        "said beside each",
        "terms_sold_on_same": "ended: the car was sold again by the same dealer {after} "
        "later, entry {index}",
        "minutes_one": "{count} minute",
        "minutes_other": "{count} minutes",
        "hours_one": "{count} hour",
        "hours_other": "{count} hours",
        "days_one": "{count} day",
        "days_other": "{count} days",
        "yes": "yes",
        "list_sep": ", ",
        "severity_minor": "minor",
        "severity_moderate": "moderate",
        "severity_severe": "severe",
        "result_ok": "ok",
        "result_minor": "minor defect",
        "result_major": "major defect",
        "result_fail": "failed",
        "result_not_checked": "not checked",
        "cause_collision": "collision",
        "cause_flood": "flood",
        "cause_fire": "fire",
        "cause_hail": "hail",
        "cause_theft": "theft",
        "cause_vandalism": "vandalism",
        "cause_other": "other",
        "source_registry": "registry",
        "source_inspection": "inspection",
        "source_workshop": "workshop",
        "source_dealer": "dealer",
        "source_insurer": "insurer",
        "source_telematics": "telematics",
        "source_owner": "owner",
        "status_open": "open",
        "status_remedied": "remedied",
        "dispute_status_open": "open",
        "dispute_status_resolved": "resolved",
        "area_front": "front",
        "area_rear": "rear",
        "area_left": "left side",
        "area_right": "right side",
        "area_roof": "roof",
        "area_interior": "interior",
        "area_engine": "engine",
        "area_underbody": "underbody",
        "error_not_found": "No records for {vin} in this ledger",
        "error_not_found_note": "This is not a clean history. The ledger knows only what its "
        "partners (inspectors, workshops, insurers, registries and dealers) have signed and "
        "submitted: a car with no records here may still have been in an accident or a flood, "
        "or had its odometer turned back.",
        "error_not_found_todo": "Check that the VIN matches the one on the car (at the base of "
        "the windscreen and on the door pillar) and on its registration papers. Ask the seller "
        "for service and inspection records, and have the car inspected before you buy.",
        "error_invalid_vin": "{vin} is not a valid VIN",
        "error_invalid_vin_todo": "A VIN has 17 characters: digits and the letters A to Z "
        "without I, O and Q. Compare it with the VIN on the car (at the base of the windscreen "
        "and on the door pillar) and on its registration papers, and try again.",
        "error_other": "This page cannot be shown",
        "error_other_todo": "Check the address and try again; if it keeps failing, tell the "
        "ledger's operator.",
        "error_detail": "The ledger's answer",
        "vin_wrong_length": "It has {count} characters; a VIN has exactly 17.",
        "vin_lookalike": "Character {position} is the letter {char}, which no VIN contains: "
        "it is probably {instead}.",
        "vin_bad_char": "Character {position} is “{char}”, which a VIN cannot contain.",
        "vin_check_digit": "Its check digit (character 9) is {found}, but the other characters "
        "give {expected}: one of them is probably mistyped.",
        "vin_retry": "Correct the VIN",
        "home_link": "Look up another VIN",
        "home_title": "Check a vehicle's history",
        "home_about": "This ledger keeps what inspectors, workshops, insurers, registries and "
        "dealers report about cars, each record signed with the partner's own key, in an "
        "append-only log that no one can change without it showing.",
        "home_offline": "Each vehicle's page checks its history in your browser; to check it "
        "without trusting this site, run the command below with the log's verifier key.",
        "vin_label": "Vehicle identification number (VIN)",
        "vin_hint": "17 characters, on the car at the base of the windscreen and on the door "
        "pillar, and on its registration papers.",
        "vin_submit": "Show the history",
    },
    "zh": {
        "title": "车辆历史 {vin}",
        "verdict_clean": "未发现问题",
        "verdict_clean_note": "本车没有里程回调、产权标记、事故、盗抢、水泡、火烧、冰雹、人为破坏、"
        "结构或气囊损伤、全损或未完成召回的记录。",
        "verdict_problems_one": "发现 {count} 个问题",
        "verdict_problems_other": "发现 {count} 个问题",
        "vehicle": "车辆",
        "make": "品牌/厂商",
        "country": "产地",
        "model_year": "车型年份",
        "unknown": "未知",
        "latest_grade": "最近检测等级",
        "last_km": "最近里程读数",
        "owners": "登记车主数",
        "entries": "记录数",
        "entries_count_one": "{count} 条记录",
        "entries_count_other": "{count} 条记录",
        "terms": "售车时附带的保障",
        "terms_none": "本车的销售记录未附带质保或退车政策。",
        "terms_until": "至 {date} 23:59（{zone}）",
        "zone_named": "{zone}，{utc}",
        "zone_Asia/Shanghai": "北京时间",
        "date": "{year}年{month}{day}日",
        "months": "1月 2月 3月 4月 5月 6月 7月 8月 9月 10月 11月 12月",
        "policy_return-7d": "7 天退车",
        "policy_powertrain-30d": "30 天动力总成质保",
        "policy_limited-90d": "90 天有限质保",
        "policy_reinspection-lifetime": "终身免费复检",
        "terms_km": "{km} 公里以内",
        "terms_ended": "已结束",
        "terms_unavailable": "仍有效，但其插件未安装在本账本上，索赔暂时无法裁定",
        "terms_returned": "已结束：车辆已退回，记录 {index}",
        "terms_replaced": "已结束：该销售有争议，已重新登记",
        "terms_sold_on": "已结束：车辆已再次售出",
        "terms_sold_on_disputed": "对经销商已结束：车辆已再次售出，但运营方对该销售有争议；"
        "运营方仍可提交退车申请",
        "terms_unstated": "销售时已列明，但该销售登记于本账本开始载明条款之前："
        "本账本无法据此裁定索赔；请咨询经销商",
        "timeline": "时间线",
        "odometer": "里程读数",
        "odometer_none": "没有里程读数记录。",
        "odometer_backwards": "读数低于之前的读数",
        "backwards_note": "此读数低于之前记录的 {from_km}（记录 {index}）。",
        "chart_summary": "{first} 至 {last} 共 {count} 个读数",
        "signed_by": "签名方：{name}（{role}）",
        "converted_by": (
            "合作方以自有报告格式签名；此处显示的是本账本插件 {provider} 对该报告的解读"
        ),
        "entry": "记录 {index}",
        "corrected_by": "已由记录 {index}（{name}）更正：{reason}",
        "correction_ignored": "未应用",
        "corrects": "更正记录 {index}",
        "disputes": "对记录 {index} 提出争议",
        "dispute_resolves": "解决对记录 {index} 的争议",
        "complaint_sale": "涉及销售记录 {index}",
        "attachment": "附件",
        "verification": "验证",
        "verifying": "正在您的浏览器中验证…",
        "verified": "已于 {time} 在您的浏览器中验证：{entries} 条记录，"
        "账本检查点包含 {size} 条记录。",
        "failed": "验证失败：{count} 项检查未通过。请勿相信此历史记录。",
        "unverified": "此历史记录未能在您的浏览器中通过验证：无论看起来多么正常，"
        "都请勿相信本页的任何内容。详情见下方。",
        "unsupported": "此浏览器无法验证历史记录的签名。请在最新版 Chrome、Firefox 或 Safari "
        "中打开本页进行验证，或运行下方“离线验证”中的命令。",
        "not_verified_yet": "尚未验证。",
        "unchecked": "无法验证此历史记录：证明文件未能下载（{reason}）。没有任何检查失败；"
        "请检查网络连接后重试。",
        "retry": "重试",
        "verdict_not_verified": "（未验证）",
        "preview_verify": "打开页面即可在您的浏览器中验证。",
        "noscript": "此页面无法自行验证：JavaScript 已关闭。以下内容仍全部显示，但未经验证。"
        "请开启 JavaScript 后打开本页，或使用 vinledger verify 验证（见下方“离线验证”）。",
        "verify_independently": "此检查运行的是本网站的代码：能发现损坏或过时的记录，但防不了"
        "不诚实的网站。如需独立验证，请用从运营方（而非本页）获得的账本公钥运行 vinledger verify"
        "（见“离线验证”），或使用他人的验证工具。",
        "entry_kind": "记录 {index}（{kind}）",
        "detail_sep": "：",
        "as_of": "截至 {date} {time}（{zone}）的历史记录：{entries}，日志检查点 {size}。",
        "as_of_current": "扫描二维码可查看最新的历史记录，其中可能有更多记录。",
        "vkey_note": "账本的验证公钥。请与账本运营方公布的公钥核对，并在您自己的工具中固定使用，"
        "而不是相信本页面。",
        "verify_offline": "离线验证",
        "links": "下载",
        "json": "历史记录（JSON）",
        "bundle": "证明包",
        "sticker": "车窗贴纸",
        "qr": "二维码",
        "badge": "车源页徽章",
        "language": "语言",
        "scan": "扫码查看本车经过验证的历史记录",
        "alert_odometer_rollback": "里程从 {from_km} 公里回退到 {to_km} 公里",
        "alert_title_brand": "产权标记：{brand}",
        "alert_damage": "报告有{flag}损伤",
        "alert_claim_damage": "保险公司报告{flag}损伤（{severity}）",
        "alert_theft": "保险公司报告车辆被盗后找回（{severity}）",
        "alert_other_claim": "保险公司报告其他原因的理赔（{severity}）",
        "alert_total_loss": "保险公司认定全损",
        "alert_accident": "保险公司报告事故（{severity}）",
        "alert_airbag_deployed": "气囊已弹出",
        "alert_recall_open": "未完成召回 {campaign}：{component}",
        "alert_implausible_rate": "里程不合理：{days} 天内行驶 {km} 公里",
        "alert_service_gap": "{days} 天没有保养记录",
        "alert_correction_not_applied": "对记录 {corrects} 的更正无法应用，已忽略",
        "alert_odometer_corrected": "记录 {corrects} 的里程读数已被更正：{from_km} → {to_km}",
        "alert_odometer_redated": (
            "记录 {corrects} 的里程读数（{km}）日期已被更正：{from_date} → {to_date}"
        ),
        "alert_hid_rollback": "；此更正掩盖了从 {from_km} 到 {to_km} 的里程回退",
        "alert_finding_withdrawn": (
            "记录 {corrects} 报告的内容已被更正撤回（{by}，记录 {corrections}）：{withdrawn}"
        ),
        "alert_withdrawn_damage": "{flag}损伤",
        "alert_withdrawn_value": "{field}：{was}（现为{now}）",
        "disputed": "有争议",
        "alert_reports": "{text}（{count} 份报告）",
        "badge_no_records": "无记录",
        "badge_not_verified": "未通过验证",
        "badge_no_alerts": "无警示",
        "problem_odometer_rollback": "里程回调",
        "problem_accident": "事故",
        "problem_theft": "盗抢",
        "problem_other_claim": "其他理赔",
        "problem_total_loss": "全损",
        "problem_airbag_deployed": "气囊弹出",
        "problem_recall_open": "未完成召回",
        "problem_implausible_rate": "里程异常",
        "problem_service_gap": "长期未保养",
        "problem_correction_not_applied": "更正未应用",
        "problem_odometer_corrected": "里程已更正",
        "problem_odometer_redated": "里程日期已更正",
        "problem_finding_withdrawn": "发现已撤回",
        "problem_title_brand": "产权标记：{brand}",
        "problem_damage": "{flag}损伤",
        "last_trusted": "最后可信的里程读数",
        "last_trusted_none": "无：没有可信的读数",
        "last_km_untrusted": "不可信，见上方问题",
        "kind_inspection": "检测",
        "kind_maintenance": "保养维修",
        "kind_odometer": "里程读数",
        "kind_insurance_claim": "保险理赔",
        "kind_title_brand": "产权标记",
        "kind_transfer": "过户",
        "kind_sale": "销售",
        "kind_recall": "召回",
        "kind_correction": "更正",
        "kind_return_request": "退车申请",
        "kind_warranty_claim": "质保索赔",
        "kind_claim_decision": "索赔决定",
        "kind_dispute": "争议",
        "kind_complaint": "投诉",
        "kind_actor": "添加合作方",
        "kind_key_grant": "授予密钥",
        "kind_key_revoke": "撤销密钥",
        "field_decision": "决定",
        "approved": "批准",
        "denied": "拒绝",
        "covers": "保障范围",
        "excludes": "不保",
        "items_sep": "；",
        "original": "账本原文（英文）：",
        "field_original": "账本原文（英文）",
        "terms_when": "{scope}",
        "terms_when_always": "不限日期和里程",
        "terms_scope_until": "{date} 23:59（{zone}）前",
        "terms_scope_km": "里程读数不超过 {km}",
        "terms_scope_and": "、",
        "terms_said_return": "{when}，可将车辆退回经销商。",
        "terms_said_warranty": "{when}，下列部件的维修在保修范围内。",
        "terms_said_reinspection": "{when}，可应要求对车辆重新检测。",
        "terms_said_other": "{when}有效；具体条款见下方账本原文。",
        "decision_facts": "于售车后第 {days} 天提出",
        "decision_facts_km": "于售车后第 {days} 天提出，售车后行驶 {km}",
        "decision_approved": "{facts}；在“{policy}”保障范围内，予以批准。",
        "decision_denied": "{facts}；{why}，不予批准。",
        "decision_before_sale": "索赔日期早于销售日期",
        "decision_not_covered": "“{component}”不在“{policy}”的保障范围内",
        "decision_repeat": "同一部件已于记录 {index} 获批，不再重复保障",
        "decision_past_end": "“{policy}”已于 {date} 结束",
        "decision_past_km": "里程读数 {km} 超过“{policy}”的上限 {limit}",
        "decision_other": "具体理由见下方账本原文",
        "component_engine": "发动机",
        "component_transmission": "变速箱",
        "component_drive-axle": "驱动桥",
        "component_brakes": "制动系统",
        "component_steering": "转向系统",
        "component_suspension": "悬架",
        "component_electrics": "电气系统",
        "component_air-conditioning": "空调",
        "component_cooling": "冷却系统",
        "component_reinspection": "复检",
        "exclusion_wear_items": "易损件（轮胎、刹车片和刹车盘、离合器片、雨刮片、滤清器）",
        "exclusion_after_sale_damage": "售车后因事故、水淹、火灾或使用不当造成的损坏",
        "role_operator": "账本运营方",
        "role_inspector": "检测机构",
        "role_workshop": "维修厂",
        "role_insurer": "保险公司",
        "role_registry": "登记机关",
        "role_dealer": "经销商",
        "role_referrer": "推荐人",
        "flag_accident": "事故",
        "flag_flood": "水泡",
        "flag_fire": "火烧",
        "flag_structural": "结构",
        "flag_airbag": "气囊",
        "flag_hail": "冰雹",
        "flag_vandalism": "人为破坏",
        "brand_salvage": "残值车",
        "brand_rebuilt": "修复车",
        "brand_flood": "水泡车",
        "brand_fire": "火烧车",
        "brand_hail": "冰雹损伤",
        "brand_lemon": "问题车（柠檬车）",
        "brand_odometer_not_actual": "里程不实",
        "brand_total_loss": "全损",
        "brand_junk": "报废",
        "field_grade": "等级",
        "field_provider": "检测机构",
        "field_findings": "检测发现",
        "field_flags": "发现的损伤",
        "field_none": "无",
        "field_removed": "已删除",
        "field_yes": "是",
        "field_no": "否",
        "field_shop": "维修厂",
        "field_work": "作业项目",
        "field_parts": "配件",
        "field_cost": "费用",
        "field_source": "来源",
        "field_cause": "出险原因",
        "field_severity": "严重程度",
        "field_areas": "部位",
        "field_jurisdiction": "辖区",
        "field_note": "备注",
        "field_dealer": "经销商",
        "field_price": "价格",
        "field_policies": "保障",
        "field_policy": "依据",
        "field_campaign": "召回活动",
        "field_component": "部件",
        "field_status": "状态",
        "field_reason": "理由",
        "field_fields": "更改",
        "field_set": "{field}：{value}",
        "field_change": "{field} → {value}",
        "field_total_loss": "全损",
        "field_structural": "结构损伤",
        "field_airbag_deployed": "气囊弹出",
        "field_claim_ref": "理赔编号",
        "field_inspector": "检测员",
        "field_odometer_km": "里程",
        "field_occurred_at": "日期",
        "field_description": "说明",
        "field_summary": "投诉内容",
        "field_upheld": "经审核成立",
        "field_items": "检测项目",
        "field_attachments": "附件",
        "field_brand": "产权标记",
        "logged_on": "{date}录入",
        "logged_late_one": "在其所载日期 {days} 天之后才录入",
        "logged_late_other": "在其所载日期 {days} 天之后才录入",
        "logged_late_corrected_one": "在更正记录 {index} 所给日期 {days} 天之后才录入",
        "logged_late_corrected_other": "在更正记录 {index} 所给日期 {days} 天之后才录入",
        "km_corrected": "{km}（由 {was} 更正）",
        "km_removed": "{was}（已被更正删除）",
        "late_note_one": "有 {count} 条记录在其所载日期 {days} 天以后才录入账本"
        "（日期由签名方填写，录入时间由账本记录）",
        "late_note_other": "有 {count} 条记录在其所载日期 {days} 天以后才录入账本"
        "（日期由签名方填写，录入时间由账本记录）",
        "key_revoked_later": "签名所用的密钥后来于 {date} 被吊销：{reason}",
        "revoked_note_one": "有 {count} 条记录的签名密钥后来被吊销，原因见该记录",
        "revoked_note_other": "有 {count} 条记录的签名密钥后来被吊销，原因见各条记录",
        "terms_sold_on_same": "已结束：同一经销商在 {after}后再次售出该车，记录 {index}",
        "minutes_one": "{count} 分钟",
        "minutes_other": "{count} 分钟",
        "hours_one": "{count} 小时",
        "hours_other": "{count} 小时",
        "days_one": "{count} 天",
        "days_other": "{count} 天",
        "yes": "是",
        "list_sep": "、",
        "severity_minor": "轻微",
        "severity_moderate": "中等",
        "severity_severe": "严重",
        "result_ok": "正常",
        "result_minor": "轻微问题",
        "result_major": "严重问题",
        "result_fail": "不合格",
        "result_not_checked": "未检查",
        "cause_collision": "碰撞",
        "cause_flood": "水淹",
        "cause_fire": "火灾",
        "cause_hail": "冰雹",
        "cause_theft": "盗抢",
        "cause_vandalism": "人为破坏",
        "cause_other": "其他",
        "source_registry": "登记机关",
        "source_inspection": "检测",
        "source_workshop": "维修厂",
        "source_dealer": "经销商",
        "source_insurer": "保险公司",
        "source_telematics": "车联网",
        "source_owner": "车主",
        "status_open": "未完成",
        "status_remedied": "已完成",
        "dispute_status_open": "未解决",
        "dispute_status_resolved": "已解决",
        "area_front": "前部",
        "area_rear": "后部",
        "area_left": "左侧",
        "area_right": "右侧",
        "area_roof": "车顶",
        "area_interior": "车内",
        "area_engine": "发动机",
        "area_underbody": "底盘",
        "vin_wrong_length": "它有 {count} 个字符；车辆识别代号（VIN）恰好 17 个字符。",
        "vin_lookalike": "第 {position} 个字符是字母 {char}，VIN 中从不使用该字母："
        "它很可能是 {instead}。",
        "vin_bad_char": "第 {position} 个字符是“{char}”，VIN 中不能含有该字符。",
        "vin_check_digit": "其校验位（第 9 个字符）是 {found}，但其他字符算出的应为 {expected}："
        "很可能有一个字符输错了。",
        "vin_retry": "更正 VIN",
        "error_not_found": "本账本中没有 {vin} 的记录",
        "error_not_found_note": "这并不代表车况清白。账本只知道合作方（检测机构、维修厂、保险公司、"
        "登记机关和经销商）签名提交的记录：在这里没有记录的车辆，仍可能出过事故、泡过水或被调过里程。",
        "error_not_found_todo": "请核对车辆识别代号是否与车上（前挡风玻璃下方和车门立柱上）"
        "及行驶证上的一致。请向卖家索取保养和检测记录，并在购买前对车辆进行检测。",
        "error_invalid_vin": "{vin} 不是有效的车辆识别代号",
        "error_invalid_vin_todo": "车辆识别代号共 17 位：数字和除 I、O、Q 以外的字母 A 至 Z。"
        "请与车上（前挡风玻璃下方和车门立柱上）及行驶证上的代号核对后重试。",
        "error_other": "无法显示此页面",
        "error_other_todo": "请检查网址后重试；如果仍然失败，请联系账本运营方。",
        "error_detail": "账本的答复",
        "home_link": "查询其他车辆识别代号",
        "home_title": "查询车辆历史",
        "home_about": "本账本保存检测机构、维修厂、保险公司、登记机关和经销商报告的车辆信息，"
        "每条记录都由合作方用自己的密钥签名，存入只能追加的日志，任何改动都会留下痕迹。",
        "home_offline": "每辆车的页面都会在您的浏览器中验证其历史记录；如不想信任本网站，"
        "请使用账本的验证公钥运行下方的命令自行验证。",
        "vin_label": "车辆识别代号（VIN）",
        "vin_hint": "共 17 位，位于车上前挡风玻璃下方和车门立柱上，也印在行驶证上。",
        "vin_submit": "查看历史记录",
    },
}


# The countries ``vininfo`` names (``core.vin`` passes its English names on), in
# Chinese; "English name 中文名" pairs, separated by semicolons.
_COUNTRIES_ZH = """
Algeria 阿尔及利亚; Andorra 安道尔; Angola 安哥拉; Argentina 阿根廷; Armenia 亚美尼亚;
Australia 澳大利亚; Austria 奥地利; Azerbaijan 阿塞拜疆; Bangladesh 孟加拉国; Belarus 白俄罗斯;
Belgium 比利时; Bolivia 玻利维亚; Bosnia & Herzogovina 波斯尼亚和黑塞哥维那; Botswana 博茨瓦纳;
Brazil 巴西; Bulgaria 保加利亚; Canada 加拿大; Chile 智利; China 中国; Colombia 哥伦比亚;
Croatia 克罗地亚; Cyprus 塞浦路斯; Czech Republic 捷克; Denmark 丹麦; Dom. Republic 多米尼加;
Ecuador 厄瓜多尔; Egypt 埃及; Estonia 爱沙尼亚; Finland 芬兰; France 法国; Germany 德国;
Greece 希腊; Honduras 洪都拉斯; Hong Kong 中国香港; Hungary 匈牙利; India 印度;
Indonesia 印度尼西亚; Iran 伊朗; Iraq 伊拉克; Ireland 爱尔兰; Israel 以色列; Italy 意大利;
Ivory Coast 科特迪瓦; Japan 日本; Jordan 约旦; Kazakhstan 哈萨克斯坦; Kenya 肯尼亚; Laos 老挝;
Latvia 拉脱维亚; Lesotho 莱索托; Libya 利比亚; Lithuania 立陶宛; Luxembourg 卢森堡;
Macedonia 北马其顿; Madagascar 马达加斯加; Malaysia 马来西亚; Malta 马耳他; Mauritius 毛里求斯;
Mexico 墨西哥; Mongolia 蒙古; Morocco 摩洛哥; Mozambique 莫桑比克; Myanmar 缅甸; Namibia 纳米比亚;
Netherlands 荷兰; New Zealand 新西兰; Nigeria 尼日利亚; Norway 挪威; Pakistan 巴基斯坦;
Panama 巴拿马; Peru 秘鲁; Philippines 菲律宾; Poland 波兰; Portugal 葡萄牙; Puerto Rico 波多黎各;
Romania 罗马尼亚; Russia 俄罗斯; San Marino 圣马力诺; Saudi Arabia 沙特阿拉伯; Serbia 塞尔维亚;
Serbia & Montenegro 塞尔维亚和黑山; Singapore 新加坡; Slovakia 斯洛伐克; Slovenia 斯洛文尼亚;
South Africa 南非; South Korea 韩国; South Ossetia 南奥塞梯; Spain 西班牙; Sweden 瑞典;
Switzerland 瑞士; Taiwan 中国台湾; Thailand 泰国; Tunisia 突尼斯; Turkey 土耳其; Ukraine 乌克兰;
United Arab Emirates 阿联酋; United Kingdom 英国; United States 美国; Uruguay 乌拉圭;
Uzbekistan 乌兹别克斯坦; Venezuela 委内瑞拉; Vietnam 越南; Zambia 赞比亚; Zimbabwe 津巴布韦
"""
COUNTRIES: dict[str, dict[str, str]] = {
    "zh": dict(pair.strip().rsplit(" ", 1) for pair in _COUNTRIES_ZH.split(";")),
}


def _primary(tag: str) -> str:
    """A language tag's language: "zh" of zh-CN, and of zh_CN as locales spell it."""
    return tag.strip().replace("_", "-").split("-")[0].lower()


def choose_language(query: str | None, accept_language: str | None) -> str:
    """``?lang=`` if it names a language we have, else the best match of the header."""
    if query and _primary(query) in MESSAGES:
        return _primary(query)
    best, best_q = DEFAULT, 0.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        primary = _primary(tag)
        if primary in MESSAGES and q > best_q:
            best, best_q = primary, q
    return best


class Words:
    """``t("key", name=value)`` for one language; unknown keys fall back to English."""

    def __init__(self, lang: str):
        self.lang = lang
        self._messages = MESSAGES[lang]

    def __call__(self, key: str, **params: object) -> str:
        text = self._messages.get(key) or MESSAGES[DEFAULT].get(key) or key
        return text.format(**params) if params else text

    def count(self, key: str, count: int, **params: object) -> str:
        """``key_one`` for one, else ``key_other``; ``{count}`` is the number."""
        return self(f"{key}_{'one' if count == 1 else 'other'}", count=count, **params)

    def term(self, vocabulary: str, value: str) -> str:
        """A value of a fixed vocabulary (``term("result", "major")``) in words; a value
        the vocabulary does not know (a newer one, or free text) as it was written."""
        key = f"{vocabulary}_{value}"
        return self._messages.get(key) or MESSAGES[DEFAULT].get(key) or value

    def knows(self, vocabulary: str, value: str) -> bool:
        """Whether ``term(vocabulary, value)`` has words for ``value`` in this language."""
        return f"{vocabulary}_{value}" in self._messages

    def date(self, day: date) -> str:
        """A day as the reader writes it: "30 Nov 2026", "2026年11月30日"."""
        month = self("months").split()[day.month - 1]
        return self("date", day=day.day, month=month, year=day.year)

    def country(self, name: str) -> str:
        return COUNTRIES.get(self.lang, {}).get(name, name)


# Chinese text in a partner's name or words on a page in another language: Han characters,
# CJK punctuation and full-width forms, with the spaces, digits and dots between them.
_HAN = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff01-\uff60"
_HAN_RUN = re.compile(f"[{_HAN}](?:[{_HAN}\\s\\d·.\\-]*[{_HAN}])?")
_NOT_CHINESE = re.compile("[\u3040-\u30ff\u1100-\u11ff\uac00-\ud7af]")  # kana, hangul


def mark_chinese(text: object, lang: str) -> Markup:
    """``text``, escaped, with each run of Chinese in it marked ``lang="zh"`` on a page in
    another language, so a screen reader reads a partner's Chinese name in Chinese
    ("signed by 华诚检测 (inspector)"). Text with kana or hangul is left unmarked: it may
    be Japanese or Korean, which this cannot tell from Chinese."""
    text = "" if text is None else str(text)
    if lang == "zh" or _NOT_CHINESE.search(text) or not _HAN_RUN.search(text):
        return escape(text)
    out, at = [], 0
    for run in _HAN_RUN.finditer(text):
        out.append(escape(text[at : run.start()]))
        out.append(Markup('<span lang="zh">{}</span>').format(run.group(0)))
        at = run.end()
    out.append(escape(text[at:]))
    return Markup("").join(out)
