"""What a channel's read shows: secrets and URL tokens masked, everything else as stored."""

from loopdesk.notifications.channels import MASK, mask_url, masked_config


def test_query_values_and_a_password_in_a_url_are_masked() -> None:
    url = "https://bot:pw123@hooks.example.com:8443/in?token=abc&team=core&empty="
    assert mask_url("webhook", url) == f"https://bot:{MASK}@hooks.example.com:8443/in?token={MASK}&team={MASK}&empty="


def test_a_slack_url_hides_its_last_path_segment() -> None:
    assert (
        mask_url("slack", "https://hooks.slack.com/services/T0/B0/XyZ")
        == f"https://hooks.slack.com/services/T0/B0/{MASK}"
    )


def test_a_url_without_tokens_reads_as_stored() -> None:
    assert mask_url("webhook", "https://example.com/hooks/loopdesk") == "https://example.com/hooks/loopdesk"


def test_a_config_masks_its_secret_and_url_and_keeps_recipients() -> None:
    config = {"url": "https://oapi.dingtalk.com/robot/send?access_token=t0k", "secret": "SECx"}
    assert masked_config("dingtalk", config) == {
        "url": f"https://oapi.dingtalk.com/robot/send?access_token={MASK}",
        "secret": MASK,
    }
    assert masked_config("email", {"recipients": ["a@example.com"]}) == {"recipients": ["a@example.com"]}
