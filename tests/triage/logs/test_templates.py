"""Log template mining: masking, clustering, counts, state, bad input, the CLI and bounded memory."""

from __future__ import annotations

import json
import random
import string
import tracemalloc

import pytest
from typer.testing import CliRunner

from loopdesk.triage.logs import TemplateMiner, mine
from loopdesk.triage.logs.cli import app
from loopdesk.triage.logs.masking import Masker, _mask_word, mask_word
from loopdesk.triage.logs.spool import final_templates, read_lines
from loopdesk.triage.logs.tokens import canonical, generalize

HDFS_STYLE = [
    "Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106 dest: /10.250.19.102:50010",
    "Receiving block blk_7503483334202473044 src: /10.251.215.16:55695 dest: /10.251.215.16:50010",
    "PacketResponder 1 for block blk_38865049064139660 terminating",
    "PacketResponder 0 for block blk_-6952295868487656571 terminating",
    "BLOCK* ask 10.250.18.114:50010 to delete  blk_-5140072410813878235",
    "BLOCK* ask 10.251.126.5:50010 to delete  blk_-9016567407076718172 blk_-8695715290502978219 blk_2654596473569751",
]
SSHD_STYLE = [
    "Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2",
    "Failed password for invalid user test9 from 52.80.34.196 port 36060 ssh2",
    "Failed password for invalid user oracle from 103.99.0.122 port 57332 ssh2",
    "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=5.36.59.76.dyn.net",
    "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=112.95.230.3",
    "Received disconnect from 139.59.209.18: 11: Bye Bye [preauth]",
    "Received disconnect from 187.141.143.180: 11: Bye Bye [preauth]",
]
JAVA_STYLE = [
    "Running task 0.0 in stage 1.0 (TID 8)",
    "Running task 34.0 in stage 29.0 (TID 1354)",
    "Block broadcast_9_piece0 stored as bytes in memory (estimated size 5.2 KB, free 5.2 KB)",
    "Block rdd_42_39 stored as bytes in memory (estimated size 384.0 B, free 874.3 KB)",
    "Expiring session 0x24ede63a01b003b, timeout of 10000ms exceeded",
    "Expiring session 0x14f05578bd8000f, timeout of 10000ms exceeded",
    "Created local directory at /opt/hdfs/usercache/curi/appcache/application_1485248649253_0147/blockmgr-70293f72",
    "Connecting to driver: spark://CoarseGrainedScheduler@10.10.34.11:48069",
]


def templates_of(lines: list[str], **options: object) -> dict[str, str]:
    return dict(zip(lines, mine(lines, TemplateMiner(**options)), strict=True))


class TestMasking:
    def test_numbers_ips_ids_paths_and_urls_become_variables_with_their_punctuation_kept(self):
        out = templates_of(HDFS_STYLE + SSHD_STYLE + JAVA_STYLE)
        assert out[HDFS_STYLE[0]] == "Receiving block <*> src: <*>:<*> dest: <*>:<*>"
        assert out[HDFS_STYLE[2]] == "PacketResponder <*> for block <*> terminating"
        assert out[JAVA_STYLE[0]] == "Running task <*> in stage <*> (TID <*>)"
        assert out[JAVA_STYLE[4]] == "Expiring session <*>, timeout of <*> exceeded"
        assert out[JAVA_STYLE[6]] == "Created local directory at <*>"
        assert out[JAVA_STYLE[7]] == "Connecting to driver: spark://<*>"

    def test_a_size_with_its_unit_is_one_variable(self):
        out = templates_of(JAVA_STYLE)
        assert out[JAVA_STYLE[2]] == "Block <*> stored as bytes in memory (estimated size <*>, free <*>)"

    def test_words_holding_digits_as_part_of_a_name_stay(self):
        masker = Masker()
        assert masker.tokens("jk2_init() Found child 6725 in scoreboard slot 10") == [
            "jk2_init()",
            "Found",
            "child",
            "<*>",
            "in",
            "scoreboard",
            "slot",
            "<*>",
        ]
        assert masker.tokens("BIOS-e820: 0000000000100000 - 0000000007eae000 (usable)")[0] == "BIOS-e820:"

    def test_dates_and_value_words_follow_the_corrected_templates(self):
        masker = Masker()
        assert masker.tokens("connection from 1.2.3.4 () at Fri Jun 17 07:07:00 2005")[-1] == "<*>:<*>:<*>"
        assert (
            canonical("Kernel command line: ro root=LABEL=/ rhgb quiet")
            == "Kernel command line: ro <*>=LABEL=/ rhgb quiet"
        )
        assert canonical("flag is true, next <*>.<*> and <*><*>") == "flag is <*>, next <*> and <*>"

    @pytest.mark.parametrize(
        "word", ["1354)", "(42,", "-1", "7.", "(1766)]:", "10.0.0.1:8080", "/10.0.0.1:50010", "[1.2:3]", "0:"]
    )
    def test_the_quick_path_for_numbers_answers_as_the_full_rules_do(self, word):
        assert mask_word(word) == _mask_word(word)

    def test_generalising_keeps_the_shared_head_and_closing_marks(self):
        assert generalize("rhost=zummit.com", "rhost=<*>") == "rhost=<*>"
        assert generalize("'alpha'", "'beta.gamma'") == "'<*>'"
        assert generalize("()", "(<*>)") == "(<*>)"
        assert generalize("cyrus", "news") == "<*>"


class TestClustering:
    def test_a_third_value_makes_a_position_variable_while_two_stay_alternatives(self):
        two = ["Block x stored as bytes in memory", "Block y stored as values in memory"] * 3
        assert len(set(mine(two))) == 2
        users = [f"session opened for user {u} by (uid=0)" for u in ("cyrus", "news", "test", "cyrus", "mail")]
        assert set(mine(users)) == {"session opened for user <*> by (uid=<*>)"}

    def test_capitalised_alternatives_never_merge(self):
        lines = [f"Notification state {s} for peer {i}" for i, s in enumerate(["LOOKING", "FOLLOWING", "LEADING"] * 2)]
        lines += [f"VM {s} (Lifecycle Event)" for s in ("Started", "Paused", "Resumed", "Stopped")]
        assert len(set(mine(lines))) == 7

    def test_lists_of_variables_of_any_length_share_one_template(self):
        lines = ["to delete blk_1", "to delete blk_1 blk_2 blk_3", "to delete blk_4 blk_5"]
        assert set(mine(lines)) == {"to delete <*>"}
        assert set(mine(["init 1 -2", "init 3 -4"])) == {"init <*> <*>"}

    def test_the_result_does_not_depend_on_the_order_of_lines(self):
        lines = [f"connection from 10.0.0.{i} ({h}) at Fri Jun 17 07:07:{i:02d} 2005" for i, h in enumerate("ab")]
        lines += ["connection from 10.0.0.9 () at Fri Jun 17 07:08:00 2005"] * 3 + SSHD_STYLE
        expected = dict(zip(lines, mine(lines), strict=True))
        for seed in range(5):
            shuffled = lines[:]
            random.Random(seed).shuffle(shuffled)
            assert dict(zip(shuffled, mine(shuffled), strict=True)) == expected

    def test_counts_grow_incrementally_and_match_learns_nothing(self):
        miner = TemplateMiner()
        first = miner.add("Got assigned task 1")
        assert first.is_new and first.template == "Got assigned task <*>"
        assert miner.add("Got assigned task 22").change == "none"
        assert miner.add("Found block rdd_2_1 locally").is_new
        assert [(t.template, t.count) for t in miner.templates()] == [
            ("Got assigned task <*>", 2),
            ("Found block <*> locally", 1),
        ]
        assert miner.match("Got assigned task 999").cluster_id == first.cluster_id
        assert miner.match("Something never seen") is None
        assert sum(t.count for t in miner.templates()) == 3

    def test_state_survives_a_save_and_load_round_trip(self, tmp_path):
        lines = HDFS_STYLE + SSHD_STYLE + JAVA_STYLE
        whole = TemplateMiner()
        expected = [whole.add(line).cluster_id for line in lines * 2]
        first = TemplateMiner()
        ids = [first.add(line).cluster_id for line in lines]
        first.save(tmp_path / "state.json")
        second = TemplateMiner.load(tmp_path / "state.json")
        assert second.templates() == first.templates()
        ids += [second.add(line).cluster_id for line in lines]
        assert ids == expected
        assert second.templates() == whole.templates()

    def test_a_state_of_another_version_is_refused(self):
        with pytest.raises(ValueError, match="version"):
            TemplateMiner.from_dict({"version": 99})


class TestBadInput:
    @pytest.mark.parametrize(
        ("message", "template"),
        [
            ("", ""),
            ("   \t  ", ""),
            ("\x00\x01\x7f binary \x1b[31m junk", "binary [<*> junk"),
            ("12 0x1f 10.0.0.1 /var/log", "<*> <*> <*> <*>"),
            ("no variables here at all", "no variables here at all"),
            ("a\u2028b", "a b"),
        ],
    )
    def test_every_message_gets_a_one_line_template(self, message, template):
        assert mine([message]) == [template]

    def test_a_megabyte_line_is_cut_not_choked_on(self):
        huge = "x" * 1_000_000
        spaced = " ".join(["word"] * 300_000)
        out = mine([huge, spaced, huge])
        assert all("\n" not in t and len(t) <= 5000 for t in out)
        assert out[0] == out[2]


class TestCli:
    def test_one_final_template_per_input_line(self):
        lines = SSHD_STYLE + ["", "only 1 2 3"]
        result = CliRunner().invoke(app, ["templates"], input="\n".join(lines) + "\n")
        assert result.exit_code == 0, result.output
        out = result.stdout.split("\n")[:-1]
        assert len(out) == len(lines)
        assert out[0] == out[1] == out[2] == "Failed password for invalid user <*> from <*> port <*> ssh2"
        assert out[-2:] == ["", "only <*> <*> <*>"]

    def test_stream_mode_prints_the_template_known_so_far(self):
        result = CliRunner().invoke(app, ["templates", "--stream"], input="user alice logged in\nuser bob logged in\n")
        assert result.exit_code == 0
        assert result.stdout.split("\n")[:2] == ["user alice logged in", "user bob logged in"]

    def test_binary_and_overlong_lines_are_survived(self):
        data = b"\xff\xfe\x00 bad bytes 12\n" + b"y" * 200_000 + b"\nlast 7\n"
        result = CliRunner().invoke(app, ["templates"], input=data)
        assert result.exit_code == 0
        assert result.stdout.split("\n")[:-1] == ["\ufffd\ufffd bad bytes <*>", "y" * 4096, "last <*>"]

    def test_state_file_is_loaded_and_saved(self, tmp_path):
        state = tmp_path / "miner.json"
        runner = CliRunner()
        runner.invoke(app, ["templates", "--state", str(state)], input="job 1 done\njob 2 done\n")
        assert json.loads(state.read_text())["clusters"][0]["count"] == 2
        result = runner.invoke(app, ["list", str(state), "--json"])
        assert json.loads(result.stdout) == {"id": 1, "template": "job <*> done", "count": 2}
        runner.invoke(app, ["templates", "--state", str(state)], input="job 3 done\n")
        assert "3 job <*> done" in runner.invoke(app, ["list", str(state)]).stdout

    def test_a_corrupt_state_file_is_an_error_not_a_crash(self, tmp_path):
        state = tmp_path / "miner.json"
        state.write_text("{not json")
        result = CliRunner().invoke(app, ["templates", "--state", str(state)], input="x\n")
        assert result.exit_code == 2
        assert "cannot load" in result.stderr


class TestBoundedMemory:
    def test_the_cluster_cap_holds_on_100k_random_lines(self):
        rng = random.Random(7)
        vocabulary = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 8))) for _ in range(3000)]
        miner = TemplateMiner(max_clusters=500)
        try:
            for i in range(100_000):
                miner.add(" ".join(rng.choices(vocabulary, k=rng.randint(1, 8))) + f" {i}")
                assert len(miner) <= 500
                if i == 95_000:
                    tracemalloc.start()  # what the last lines leave behind is all that may have grown
            grown, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert grown < 4_000_000

    def test_lines_of_dropped_clusters_still_get_a_template(self):
        miner = TemplateMiner(max_clusters=2)
        lines = ["alpha one", "beta two 2", "gamma three 3", "delta four 4"]
        assert list(final_templates(lines, miner)) == ["alpha one", "beta two <*>", "gamma three <*>", "delta four <*>"]

    def test_reading_lines_cuts_each_to_the_limit(self):
        import io

        stream = io.BytesIO(b"short\n" + b"z" * 100 + b"\nend")
        assert list(read_lines(stream, limit=10)) == ["short", "z" * 10, "end"]
