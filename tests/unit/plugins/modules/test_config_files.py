# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# config_files against a real directory. Its text blocks and backups are
# compared with what ansible.builtin.blockinfile and ansible.builtin.copy
# themselves write for the same input (run here the same way), because hosts
# those modules wrote before must not be rewritten.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import grp
import os
import pwd
import stat
from unittest import mock

import pytest

from ansible.module_utils import basic
from ansible_collections.aiinfra.slurm.plugins.module_utils.config_files import with_block
from ansible_collections.aiinfra.slurm.plugins.modules import config_files
from ansible_collections.aiinfra.slurm.tests.unit.plugins.modules.module_runner import run_module

OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name
MARKER = "# {mark} aiinfra.slurm cluster hosts"
HOSTS_BLOCK = "10.77.0.10 lab-ctl\n10.77.0.11 lab-node1\n10.77.0.12 lab-node2"


def run_config_files(check_mode=False, diff=False, **params):
    return run_module(config_files, params, check_mode, diff)


# Files as /etc/hosts is found on hosts: the distribution's own, one the
# collection wrote before, markers in the wrong order, a lone marker, no final newline.
HOSTS_FILES = {
    "pure": b"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    "written before": (b"# BEGIN aiinfra.slurm cluster hosts\n10.77.0.10 lab-ctl\n"
                       b"# END aiinfra.slurm cluster hosts\n127.0.0.1\tlocalhost\n"),
    "markers reversed": (b"127.0.0.1\tlocalhost\n# END aiinfra.slurm cluster hosts\nold\n"
                         b"# BEGIN aiinfra.slurm cluster hosts\n::1\tlocalhost\n"),
    "begin marker alone": b"127.0.0.1\tlocalhost\n# BEGIN aiinfra.slurm cluster hosts\n",
    "no final newline": b"127.0.0.1\tlocalhost",
    "empty": b"",
}


@pytest.mark.parametrize("block", [HOSTS_BLOCK, HOSTS_BLOCK + "\n", ""], ids=["block", "newline", "empty block"])
@pytest.mark.parametrize("name", sorted(HOSTS_FILES))
def test_a_text_block_is_written_as_blockinfile_writes_it(tmp_path, name, block):
    # ansible-test's module unit context has no ansible.modules; `make unit` has.
    blockinfile = pytest.importorskip("ansible.modules.blockinfile")
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.write_bytes(HOSTS_FILES[name])
    theirs.write_bytes(HOSTS_FILES[name])
    result, failed = run_module(blockinfile, dict(path=str(theirs), block=block, marker=MARKER, insertbefore="BOF"))
    assert not failed, result
    assert with_block(HOSTS_FILES[name], block, MARKER) == theirs.read_bytes()

    result, failed = run_config_files(text_blocks=[dict(path=str(ours), block=block, marker=MARKER)])
    assert not failed, result
    assert ours.read_bytes() == theirs.read_bytes()
    assert result["changed"] == (HOSTS_FILES[name] != theirs.read_bytes())
    # A second run agrees too: no change, except where blockinfile itself changes
    # the file again (a lone marker stays behind the new block).
    theirs_again, failed = run_module(blockinfile, dict(path=str(theirs), block=block, marker=MARKER,
                                                        insertbefore="BOF"))
    assert not failed, theirs_again
    ours_again, failed = run_config_files(text_blocks=[dict(path=str(ours), block=block, marker=MARKER)])
    assert not failed, ours_again
    assert ours.read_bytes() == theirs.read_bytes()
    assert ours_again["changed"] == theirs_again["changed"] == (name == "begin marker alone" and block != "")


def test_files_and_blocks_are_written_in_one_call_and_reported_by_path(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_bytes(HOSTS_FILES["pure"])
    slurm_conf, nodes_conf = tmp_path / "slurm.conf", tmp_path / "nodes.conf"
    nodes_conf.write_text("NodeName=lab-node1 CPUs=2\n")
    os.chmod(nodes_conf, 0o600)
    params = dict(
        files=[dict(path=str(slurm_conf), content="ClusterName=lab\n", owner=OWNER, group=GROUP, mode="0644"),
               dict(path=str(nodes_conf), content="NodeName=lab-node1 CPUs=2\n", mode="0644")],
        text_blocks=[dict(path=str(hosts), block=HOSTS_BLOCK, marker=MARKER)])

    result, failed = run_config_files(**params)
    assert not failed, result
    # nodes.conf had the right content and only its mode was wrong.
    assert result["changed_paths"] == [str(slurm_conf), str(nodes_conf), str(hosts)]
    assert slurm_conf.read_text() == "ClusterName=lab\n"
    assert stat.S_IMODE(os.stat(slurm_conf).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(nodes_conf).st_mode) == 0o644
    assert hosts.read_bytes().startswith(b"# BEGIN aiinfra.slurm cluster hosts\n10.77.0.10 lab-ctl\n")
    # No temporary file is left beside them.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hosts", "nodes.conf", "slurm.conf"]

    result, failed = run_config_files(**params)
    assert (failed, result["changed"], result["changed_paths"]) == (False, False, [])


def test_check_mode_reports_the_changes_and_writes_nothing(tmp_path):
    existing, new = tmp_path / "slurm.conf", tmp_path / "nodes.conf"
    existing.write_text("ClusterName=old\n")
    result, failed = run_config_files(check_mode=True, diff=True, files=[
        dict(path=str(existing), content="ClusterName=lab\n", mode="0600"),
        dict(path=str(new), content="NodeName=lab-node1\n", mode="0644")])
    assert not failed, result
    assert result["changed_paths"] == [str(existing), str(new)]
    assert existing.read_text() == "ClusterName=old\n"
    assert not new.exists()
    assert {"before_header": str(existing), "after_header": str(existing),
            "before": "ClusterName=old\n", "after": "ClusterName=lab\n"} in result["diff"]
    assert {"before_header": str(new), "after_header": str(new),
            "before": "", "after": "NodeName=lab-node1\n"} in result["diff"]


def test_only_existing_leaves_missing_files_missing(tmp_path):
    present, missing = tmp_path / "slurm.conf", tmp_path / "nodes.conf"
    present.write_text("ClusterName=old\n")
    result, failed = run_config_files(only_existing=True, files=[
        dict(path=str(present), content="ClusterName=lab\n"), dict(path=str(missing), content="NodeName=x\n")],
        text_blocks=[dict(path=str(tmp_path / "hosts"), block=HOSTS_BLOCK, marker=MARKER)])
    assert not failed, result
    assert result["changed_paths"] == [str(present)]
    assert present.read_text() == "ClusterName=lab\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slurm.conf"]


def test_a_backup_is_kept_as_copy_names_it(tmp_path):
    conf = tmp_path / "slurm.conf"
    conf.write_text("ClusterName=old\n")
    result, failed = run_config_files(files=[dict(path=str(conf), content="ClusterName=lab\n", backup=True)])
    assert not failed, result
    backups = glob.glob(str(tmp_path / "slurm.conf.*~"))
    assert list(result["backup_files"].values()) == backups
    assert open(backups[0]).read() == "ClusterName=old\n"
    assert conf.read_text() == "ClusterName=lab\n"


@pytest.mark.parametrize("problem, files, blocks, message", [
    ("a path twice", [{"path": "F", "content": "a"}, {"path": "F", "content": "b"}], [], "named twice"),
    ("a file and a block on one path", [{"path": "F", "content": "a"}],
     [{"path": "F", "block": "b", "marker": MARKER}], "named twice"),
    ("a relative path", [{"path": "relative/slurm.conf", "content": "a"}], [], "not absolute"),
    ("no {mark} in the marker", [], [{"path": "F", "block": "b", "marker": "# cluster hosts"}], "{mark}"),
    ("a missing directory", [{"path": "D/nosuch/slurm.conf", "content": "a"}], [], "directory of"),
    ("a block in a missing file", [], [{"path": "D/nosuch", "block": "b", "marker": MARKER}], "does not exist"),
    ("a directory as a file", [{"path": "D", "content": "a"}], [], "is a directory"),
])
def test_bad_input_is_refused_before_any_write(tmp_path, problem, files, blocks, message):
    first = tmp_path / "first.conf"
    first.write_text("old\n")

    def concrete(spec):
        path = spec["path"].replace("F", str(tmp_path / "f.conf")).replace("D", str(tmp_path))
        return dict(spec, path=path)

    # A valid file comes first: it must not be written either.
    result, failed = run_config_files(files=[dict(path=str(first), content="new\n")] + [concrete(s) for s in files],
                                      text_blocks=[concrete(s) for s in blocks])
    assert failed, problem
    assert message in result["msg"]
    assert result["changed"] is False
    assert first.read_text() == "old\n"


@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check mode"])
@pytest.mark.parametrize("written, when_changed, restarted", [
    ("nodes.conf", ["nodes.conf"], ["slurmctld", "slurmd"]),
    ("slurm.conf", ["nodes.conf"], []),
    ("slurm.conf", ["nodes.conf", "slurm.conf"], ["slurmctld", "slurmd"]),
    (None, ["nodes.conf", "slurm.conf"], []),
], ids=["needed", "other file", "either file", "nothing written"])
def test_services_restart_only_for_the_files_that_need_it(tmp_path, check_mode, written, when_changed, restarted):
    for name in ("slurm.conf", "nodes.conf"):
        (tmp_path / name).write_text("old\n" if name == written else "same\n")
    calls = []

    def run_command(self, argv, **kwargs):
        calls.append(argv)
        return 0, "", ""

    with mock.patch.object(basic.AnsibleModule, "run_command", run_command), \
            mock.patch.object(config_files, "os_facts", return_value={"service_mgr": "systemd"}):
        result, failed = run_config_files(
            check_mode=check_mode,
            files=[dict(path=str(tmp_path / name), content="same\n") for name in ("slurm.conf", "nodes.conf")],
            restart=dict(services=["slurmctld", "slurmd"], when_changed=[str(tmp_path / p) for p in when_changed]))
    assert not failed, result
    assert result["restarted"] == restarted
    assert calls == ([] if check_mode else [["systemctl", "restart", name] for name in restarted])


@pytest.mark.parametrize("service_mgr, argv", [
    ("openrc", ["rc-service", "slurmd", "restart"]), ("service", ["service", "slurmd", "restart"])])
def test_a_failed_restart_names_the_command_and_the_files_written(tmp_path, service_mgr, argv):
    conf = tmp_path / "nodes.conf"
    conf.write_text("old\n")
    with mock.patch.object(basic.AnsibleModule, "run_command", return_value=(1, "", "unit slurmd not found\n")), \
            mock.patch.object(config_files, "os_facts", return_value={"service_mgr": service_mgr}):
        result, failed = run_config_files(files=[dict(path=str(conf), content="new\n")],
                                          restart=dict(services=["slurmd"], when_changed=[str(conf)]))
    assert failed
    assert result["msg"] == "%s failed (rc 1): unit slurmd not found; the files are written: %s" % (
        " ".join(argv), conf)
    assert (result["changed"], conf.read_text()) == (True, "new\n")


def test_check_mode_on_a_host_without_the_directory_yet(tmp_path):
    """--check before the packages are installed: /etc/slurm is not there yet."""
    path = tmp_path / "etc-slurm" / "slurm.conf"
    result, failed = run_config_files(check_mode=True, files=[dict(path=str(path), content="a\n", mode="0644")])
    assert (failed, result["changed_paths"]) == (False, [str(path)]), result
    assert not path.parent.exists()


def test_a_block_goes_through_a_link_and_a_file_replaces_it(tmp_path):
    """As blockinfile (follows the link) and copy (replaces it) do."""
    real_hosts, real_conf = tmp_path / "real-hosts", tmp_path / "real.conf"
    real_hosts.write_bytes(HOSTS_FILES["pure"])
    real_conf.write_text("old\n")
    hosts, conf = tmp_path / "hosts", tmp_path / "slurm.conf"
    hosts.symlink_to(real_hosts)
    conf.symlink_to(real_conf)
    result, failed = run_config_files(files=[dict(path=str(conf), content="new\n")],
                                      text_blocks=[dict(path=str(hosts), block=HOSTS_BLOCK, marker=MARKER)])
    assert not failed, result
    assert result["changed_paths"] == [str(conf), str(hosts)]
    assert hosts.is_symlink() and real_hosts.read_bytes() == with_block(HOSTS_FILES["pure"], HOSTS_BLOCK, MARKER)
    assert not conf.is_symlink() and conf.read_text() == "new\n" and real_conf.read_text() == "old\n"
