"""The SSRF-safe outbound client against a real server on 127.0.0.1."""

import ipaddress

import httpx
import pytest

from loopdesk.tools.net import OutboundPolicy, ResponseTooLarge, UnsafeDestination, safe_client
from tests.receiver import receiver


async def test_loopback_is_refused_unless_allow_listed_and_nothing_is_sent():
    async with receiver() as server:
        async with safe_client(OutboundPolicy()) as client:
            with pytest.raises(UnsafeDestination, match="LOOPDESK_NET_ALLOWLIST"):
                await client.post(f"{server.url}/hook", json={"x": 1})
        assert server.received == []
        async with safe_client(OutboundPolicy.from_allowlist(["127.0.0.0/8"])) as client:
            response = await client.post(f"{server.url}/hook", json={"x": 1})
        assert response.status_code == 200 and server.received[0]["body"] == {"x": 1}


async def test_localhost_by_name_and_redirects_to_loopback_are_refused():
    async with receiver() as server:
        port = server.url.rsplit(":", 1)[1]
        async with safe_client(OutboundPolicy()) as client:
            with pytest.raises(UnsafeDestination):
                await client.get(f"http://localhost:{port}/hook")
        # The first hop is allowed by name; the redirect it answers with goes to a loopback address.
        async with receiver(redirect_to=f"http://127.0.0.2:{port}/hook") as hop:
            policy = OutboundPolicy.from_allowlist(["127.0.0.1"])
            async with safe_client(policy) as client:
                with pytest.raises(UnsafeDestination):
                    await client.get(f"{hop.url}/redirect")
        assert server.received == []


@pytest.mark.parametrize(
    "address",
    ["10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "::1", "fe80::1", "fc00::1", "0.0.0.0", "224.0.0.1",
     "::ffff:127.0.0.1", "100.64.0.1", "0.1.2.3", "198.18.0.1", "255.255.255.255", "::ffff:10.0.0.1",
     "2002:7f00:1::1",  # 6to4 around 127.0.0.1
     "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo whose client is 192.0.2.45 (documentation range)
     "64:ff9b::7f00:1"],  # NAT64 around 127.0.0.1
)  # fmt: skip
def test_private_and_special_addresses_are_not_permitted(address):
    assert not OutboundPolicy().permits("example.test", ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "2001:4860:4860::8888", "2002:808:808::1"])
def test_public_addresses_are_permitted(address):
    assert OutboundPolicy().permits("example.com", ipaddress.ip_address(address))


def test_an_allow_listed_network_is_reachable_through_its_ipv6_forms():
    policy = OutboundPolicy.from_allowlist(["127.0.0.0/8"])
    assert policy.permits("x", ipaddress.ip_address("::ffff:127.0.0.1"))
    assert not OutboundPolicy.from_allowlist(["10.0.0.0/8"]).permits("x", ipaddress.ip_address("::ffff:127.0.0.1"))


@pytest.mark.parametrize("chunked", ["", "1"])
async def test_responses_over_the_cap_are_refused_and_smaller_ones_pass(chunked):
    async with receiver() as server:
        policy = OutboundPolicy.from_allowlist(["127.0.0.1"])
        async with safe_client(policy, max_response_bytes=100_000) as client:
            small = await client.get(f"{server.url}/big", params={"size": 99_000, "chunked": chunked})
            assert small.status_code == 200 and len(small.content) == 99_000
            with pytest.raises(ResponseTooLarge):
                await client.get(f"{server.url}/big", params={"size": 300_000, "chunked": chunked})


async def test_non_http_schemes_are_refused():
    async with safe_client(OutboundPolicy()) as client:
        with pytest.raises((UnsafeDestination, httpx.UnsupportedProtocol)):
            await client.get("file:///etc/passwd")


def test_allow_list_entries_may_name_a_port():
    policy = OutboundPolicy.from_allowlist(["localhost:8080", "[::1]:9000", "intranet.example"])
    assert policy.permits("localhost", ipaddress.ip_address("127.0.0.1"), 8080)
    assert not policy.permits("localhost", ipaddress.ip_address("127.0.0.1"), 8081)
    assert policy.permits("::1", ipaddress.ip_address("::1"), 9000)
    assert not policy.permits("::1", ipaddress.ip_address("::1"), 9001)
    assert policy.permits("intranet.example", ipaddress.ip_address("10.1.2.3"), 443)


async def test_a_port_pinned_entry_lets_that_port_through_only():
    async with receiver() as server:
        port = int(server.url.rsplit(":", 1)[1])
        async with safe_client(OutboundPolicy.from_allowlist([f"127.0.0.1:{port}"])) as client:
            assert (await client.post(f"{server.url}/hook", json={})).status_code == 200
        async with safe_client(OutboundPolicy.from_allowlist([f"127.0.0.1:{port + 1}"])) as client:
            with pytest.raises(UnsafeDestination):
                await client.post(f"{server.url}/hook", json={})
