"""Product area of an item from a small bilingual keyword taxonomy.

| category    | examples of what it catches                                                          |
|-------------|--------------------------------------------------------------------------------------|
| account     | login, sign-in, password, 2FA, SSO, account, profile, permission — 登录, 密码, 账号, 验证码 |
| billing     | payment, invoice, refund, subscription, charge, price — 支付, 付款, 退款, 发票, 订阅, 扣费 |
| performance | slow, latency, timeout, memory, CPU, lag — 慢, 卡顿, 延迟, 超时, 内存, 耗电               |
| ui          | button, layout, page, screen, dark mode, font, display — 界面, 按钮, 页面, 显示, 样式       |
| data        | export, import, sync, backup, database, records, lost data — 数据, 导出, 导入, 同步, 备份 |
| integration | API, webhook, SDK, plugin, OAuth app, Slack, third party — 接口, 集成, 插件, 第三方, 钉钉 |
| other       | nothing above matched                                                                |

Each category scores its keyword hits, title hits counting double; the highest wins, ties go to the order above.
"""

from __future__ import annotations

import re

CATEGORIES: tuple[str, ...] = ("account", "billing", "performance", "ui", "data", "integration", "other")


def _p(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)  # matched against lower-cased text


KEYWORDS: dict[str, re.Pattern[str]] = {
    "account": _p(
        r"\b(log ?in|log ?out|sign ?(in|up|on|out)|password|passcode|2fa|mfa|two[- ]factor|sso|saml|account"
        r"|profile|username|e-?mail verification|permission|authenticat\w*|session expired)\b"
        r"|登录|登陆|注册|密码|账号|帐号|账户|验证码|权限|个人资料|实名"
    ),
    "billing": _p(
        r"\b(pay(ment|ing)?|invoice|refund|subscription|billing|charged?|price|pricing|checkout|credit card|coupon"
        r"|plan upgrade|receipt)\b|支付|付款|退款|发票|订阅|扣费|扣款|价格|收费|充值|优惠券|账单|会员"
    ),
    "performance": _p(
        r"\b(slow(ly|er|ness)?|latency|lag(gy|s)?|timeouts?|timed out|performance|memory (usage|leak)|cpu|high load"
        r"|takes? (forever|too long|\d+ ?(s|seconds|minutes))|battery drain|throughput)\b"
        r"|慢|卡顿|延迟|超时|性能|内存|耗电|加载时间|响应时间"
    ),
    "ui": _p(
        r"\b(button|layout|page|screen|dialog|modal|menu|dark mode|theme|font|icon|display(ed|s)?|render(ed|ing)?"
        r"|css|scroll(ing|bar)?|tooltip|ui|ux|click(ing)?|window|tab|dropdown|responsive)\b"
        r"|界面|按钮|页面|显示|样式|布局|弹窗|菜单|图标|字体|夜间模式|深色模式|点击"
    ),
    "data": _p(
        r"\b(export|import|sync(ing|hroni[sz]ation)?|backup|restore|database|records?|data loss|lost data|csv"
        r"|spreadsheet|migration|duplicate(d)? (data|entries|records)|corrupt\w*)\b"
        r"|数据|导出|导入|同步|备份|恢复|数据库|记录|表格"
    ),
    "integration": _p(
        r"\b(api|webhooks?|sdk|plugins?|extensions?|integrations?|third[- ]party|slack|zapier|jira|github|oauth app"
        r"|rest|graphql|endpoint|callback url)\b|接口|集成|插件|第三方|钉钉|企业微信|飞书|回调"
    ),
}


def category_of(title: str, body: str) -> str:
    """The best-matching category for one item (title and the first 3,000 characters of the body), or "other"."""
    best, best_score = "other", 0
    title, head = title.lower(), body[:3_000].lower()
    for name, pattern in KEYWORDS.items():
        score = 2 * len(pattern.findall(title)) + len(pattern.findall(head))
        if score > best_score:
            best, best_score = name, score
    return best
