"""Severity from the issue type and bilingual keywords.

| level    | what raises an item to it (English / Chinese)                                                    |
|----------|--------------------------------------------------------------------------------------------------|
| critical | data loss or corruption, security hole / leak, outage or "production down", payments taken     |
|          | twice or lost — 数据丢失, 安全漏洞, 泄露, 宕机, 服务不可用, 重复扣款; or a high symptom that     |
|          | reaches everyone ("all users", 所有用户, 线上)                                                  |
| high     | crash, cannot log in, cannot pay, blocked / no workaround, hangs — 崩溃, 闪退, 无法登录, 支付失败; |
|          | or any bug that reaches everyone                                                                 |
| medium   | a bug with none of the above (errors, wrong results)                                             |
| low      | cosmetic / typo / minor bugs — 错别字, 样式; suggestions and questions with no impact keywords    |

A suggestion or question that names an impact (e.g. "how do I recover from this data loss?") is raised too,
but never above high: nothing is broken by the report itself.
"""

from __future__ import annotations

import re

SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low")


def _p(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)  # matched against lower-cased text


CRITICAL = _p(
    r"\b(data loss|lost (all|my|our) (data|files|work|records)|data (is |was |got )?(deleted|wiped|corrupt\w*)"
    r"|corrupt(ed|s|ion)|security (hole|issue|vulnerability|bug)|vulnerabilit(y|ies)|exploit|leak(s|ed|ing)? "
    r"(of )?(user |personal |private )?(data|passwords?|credentials|tokens?|keys?)|\bcve-\d+|xss|sql injection"
    r"|rce|remote code execution|privilege escalation|outage|(site|service|server|production|prod|system) (is )?"
    r"(down|unavailable|unreachable)|charged twice|double charg\w*|money (lost|missing))\b"
    r"|数据丢失|丢失数据|数据被删|数据损坏|安全漏洞|漏洞|泄露|泄漏|越权|sql ?注入"
    r"|宕机|服务不可用|服务挂了|重复扣款|扣款.{0,6}(未到账|失败)"
)
# How many people a bug reaches: with a high-impact symptom it becomes critical.
BREADTH = _p(
    r"\b(all (users|customers)|every(one| user| customer)|nobody can|no one can|in production)\b"
    r"|所有用户|全部用户|所有人|大面积|线上"
)
HIGH = _p(
    r"\b(crash(es|ed|ing)?|segfault|segmentation fault|core dump|panic|hangs?|freez(e|es|ing)|unresponsive"
    r"|(can ?not|can't|cannot|unable to|couldn't) (log ?in|sign ?in|pay|check ?out|start|launch|open|save|access)"
    r"|login (fails|failed|broken)|payment (fails|failed|broken)|blocker|blocking|no workaround|showstopper"
    r"|memory leak|deadlock|urgent|regression)\b"
    r"|崩溃|闪退|卡死|死机|无法登录|不能登录|登录不了|登不上|无法支付|支付失败|付不了款|无法启动|打不开|无法打开|无法保存|内存泄漏|紧急|阻塞"
)
LOW = _p(
    r"\b(typo|spelling|cosmetic|minor|alignment|misaligned|padding|margin|font|colou?r|tooltip|wording"
    r"|grammar|nit|dark mode|icon)\b|错别字|拼写|样式|对齐|颜色|字体|文案|图标|小问题"
)


def severity_of(issue_type: str, title: str, body: str) -> str:
    """critical / high / medium / low for one item's type, title and body (its first 5,000 characters)."""
    sample = f"{title}\n{body[:5_000]}".lower()
    if CRITICAL.search(sample):
        return "critical" if issue_type == "bug" else "high"
    if HIGH.search(sample):
        if issue_type != "bug":
            return "medium"
        return "critical" if BREADTH.search(sample) else "high"
    if issue_type != "bug":
        return "low"
    if BREADTH.search(sample):
        return "high"
    return "low" if LOW.search(sample[:2_000]) else "medium"
