"""The report's figures and notes: platform ÷ lean over repeated lean:8,debit:8 pairs, the load generator's
CPU, the interpreter's build and the pages PostgreSQL's shared memory is on."""

from bench.run import (
    cpu_idle,
    generator_cell,
    huge_pages_in_report,
    huge_pages_note,
    interpreter_note,
    lean_note,
    lean_pairs,
    python_prefix_note,
    scheduler,
    task_groups_in_report,
    task_groups_note,
)


def scenario(name, rps, connections=8):
    return {"name": name, "rps": rps, "connections": connections}


def test_each_lean_debit_pair_gives_a_ratio_and_the_note_their_median():
    scenarios = [
        scenario("debit", 400, connections=1),
        scenario("lean", 2000),
        scenario("debit", 1200),
        scenario("lean", 2200),
        scenario("debit", 1250),
        scenario("mixed", 1300),
        scenario("lean", 1000),  # no debit:8 after it: no pair
    ]
    assert lean_pairs(scenarios) == [0.6, 0.568]
    note = lean_note({"platform_over_lean": 0.584, "platform_over_lean_pairs": [0.6, 0.568]})
    assert note == "Platform ÷ lean reference debit at 8 clients: **58%** (median of 2 pairs: 60%, 57%). "


def test_one_pair_reads_as_before():
    assert lean_pairs([scenario("lean", 2000), scenario("debit", 1000)]) == [0.5]
    assert lean_note({"platform_over_lean": 0.5, "platform_over_lean_pairs": [0.5]}) == (
        "Platform ÷ lean reference debit at 8 clients: **50%**. "
    )
    assert lean_note({"platform_over_lean": None}) == ""


def test_the_load_generator_cpu_cell_reads_dash_for_runs_that_did_not_record_it():
    assert generator_cell({"generator_cpu_ms_per_req": 0.0712}) == "0.07"
    assert generator_cell({}) == "-"


def test_the_report_names_the_interpreters_installation_where_the_run_recorded_it():
    # Two builds of one version can differ in speed (profile-guided optimization): say which ran.
    assert python_prefix_note({"python_prefix": "/usr"}) == " (/usr)"
    assert python_prefix_note({}) == ""


def test_an_interpreter_built_without_pgo_is_named_before_the_run():
    pyenv = "'--prefix=/root/.pyenv/versions/3.11.7' '--enable-shared'"
    note = interpreter_note(config_args=pyenv, prefix="/root/.pyenv/versions/3.11.7")
    assert "/root/.pyenv/versions/3.11.7" in note and "--enable-optimizations" in note
    # python.org's and the Docker image's builds say so; a distribution's lives under /usr.
    assert interpreter_note(config_args="'--enable-optimizations' '--with-lto'", prefix="/usr/local") == ""
    assert interpreter_note(config_args="'--enable-shared' '--prefix=/usr'", prefix="/usr") == ""


def test_shared_memory_on_4_kb_pages_is_named_before_the_run_with_what_would_change_it():
    none_reserved = huge_pages_note({"setting": "try", "needed": 72, "mapped_kb": 0, "free": 0})
    assert "sysctl -w vm.nr_hugepages=72" in none_reserved and "huge_pages = try" in none_reserved
    not_restarted = huge_pages_note({"setting": "try", "needed": 72, "mapped_kb": 0, "free": 80})
    assert "restart PostgreSQL to take them" in not_restarted and "sysctl" not in not_restarted
    assert "huge_pages = try (or on)" in huge_pages_note({"setting": "off", "needed": 72, "mapped_kb": 0, "free": 80})
    assert "huge_pages = off" in huge_pages_note({"setting": "off", "status": "off", "needed": 72, "free": 0})
    # On huge pages, or a server this machine cannot look into: nothing to say.
    assert huge_pages_note({"setting": "try", "needed": 72, "mapped_kb": 145408, "free": 8}) == ""
    assert huge_pages_note({"setting": "try", "needed": 72, "mapped_kb": None, "free": 0}) == ""
    assert huge_pages_note({"setting": "try", "status": "on", "mapped_kb": None, "free": 0}) == ""


def test_the_report_says_which_pages_the_shared_memory_was_on_where_the_run_could_tell():
    assert huge_pages_in_report({"postgresql_huge_pages": {"mapped_kb": 65536}}) == ", shared memory on huge pages"
    assert huge_pages_in_report({"postgresql_huge_pages": {"mapped_kb": 0}}) == ", shared memory on 4 kB pages"
    assert huge_pages_in_report({"postgresql_huge_pages": {"mapped_kb": None}}) == ""
    assert huge_pages_in_report({"postgresql_huge_pages": {"status": "on", "mapped_kb": None}}) == (
        ", shared memory on huge pages"
    )
    assert huge_pages_in_report({}) == ""  # runs recorded before it was


def test_the_run_records_how_an_idle_vcpu_waits(tmp_path):
    # A fixed rate's CPU per request moved with the guest's halt polling (docs/performance.md, 2026-12-05).
    cpuidle = tmp_path / "devices/system/cpu/cpuidle"
    cpuidle.mkdir(parents=True)
    (cpuidle / "current_driver").write_text("haltpoll\n")
    (cpuidle / "current_governor_ro").write_text("haltpoll\n")
    haltpoll = tmp_path / "module/haltpoll/parameters"
    haltpoll.mkdir(parents=True)
    (haltpoll / "guest_halt_poll_ns").write_text("0\n")
    assert cpu_idle(tmp_path) == {"driver": "haltpoll", "governor": "haltpoll", "guest_halt_poll_ns": "0"}
    # A kernel without the driver (bare metal, another hypervisor): said so, not guessed.
    assert cpu_idle(tmp_path / "elsewhere") == {"driver": None, "governor": None, "guest_halt_poll_ns": None}


def test_the_run_records_whether_the_kernel_groups_tasks_by_session(tmp_path):
    kernel = tmp_path / "sys/kernel"
    kernel.mkdir(parents=True)
    (kernel / "sched_autogroup_enabled").write_text("1\n")
    assert scheduler(tmp_path) == {"autogroup": "1"}
    # A kernel built without autogroups has no such file: said so, not guessed.
    assert scheduler(tmp_path / "elsewhere") == {"autogroup": None}
    assert task_groups_in_report({"scheduler": {"autogroup": "0"}}) == ", automatic task groups off"
    assert task_groups_in_report({"scheduler": {"autogroup": "1"}}) == ", automatic task groups on"
    assert task_groups_in_report({"scheduler": {"autogroup": None}}) == ""
    assert task_groups_in_report({}) == ""  # runs recorded before it was


def test_a_run_beside_a_local_server_notes_the_kernels_task_groups():
    assert "sched_autogroup_enabled=0" in task_groups_note({"autogroup": "1"}, local_server=True)
    # Off, unknown, or a server elsewhere (its backends are not on this kernel): nothing to say.
    assert task_groups_note({"autogroup": "0"}, local_server=True) == ""
    assert task_groups_note({"autogroup": None}, local_server=True) == ""
    assert task_groups_note({"autogroup": "1"}, local_server=False) == ""
