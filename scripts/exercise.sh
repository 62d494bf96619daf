#!/usr/bin/env bash
# The walkthrough's exercises, checked (docs/WALKTHROUGH.md, "Exercises").
#   scripts/exercise.sh N             exercise N's check: exit 0 once it is done
#   scripts/exercise.sh --all-undone  every check must fail on the code as it is (make test runs it)
# Exercises 1-4 add something: a test of tests/exercises.rs passes once it is there. Exercises
# 5-8 break something on purpose: done when the named test fails. Exercises 9-12 break one
# step of the ladder: done when that bug's probe shows the bug at that step.
set -uo pipefail
cd "$(dirname "$0")/.."

# N: "adds TEST" (a check that must pass) or "breaks FILE TEST" (a test that must fail).
check() {
    case "$1" in
        1) adds exercise_1_whoq_is_answered_with_the_directory ;;
        2) adds exercise_2_me_prints_an_action ;;
        3) adds exercise_3_the_remainder_goes_to_the_last_segment ;;
        4) adds exercise_4_the_eleventh_play_in_a_minute_is_refused ;;
        5) breaks "--test chat" a_connection_that_has_not_joined_hears_no_broadcast ;;
        6) breaks "--test stream" a_video_is_matched_by_its_whole_name_not_a_prefix ;;
        7) breaks "--lib" cmd::tests::field_lengths_are_bounded_inside_the_payload ;;
        8) breaks "--test stream" the_list_skips_broken_files_sorts_heights_as_numbers_and_shows_real_sizes ;;
        9) ladder every_chat_reaches_everyone 2 ;;
        10) ladder a_client_killed_stays_listed 3 ;;
        11) ladder a_replayed_message_is_shown_twice 4 ;;
        12) ladder names_are_cut_at_the_first_underscore 5 ;;
        *) echo "no exercise $1 (1-12)" >&2; return 2 ;;
    esac
}

# Each returns 0 when the exercise is done, 1 when it is not, 3 when its check itself is
# broken (no such test, or the code does not build).
adds() {
    if cargo test -q --test exercises "$1" -- --ignored --exact >/tmp/exercise.log 2>&1; then
        grep -q "1 passed" /tmp/exercise.log || { echo "no check named $1"; return 3; }
        echo "done: $1 passes"; return 0
    fi
    grep -q "test result: FAILED" /tmp/exercise.log \
        || { echo "the build failed:"; tail -n 20 /tmp/exercise.log; return 3; }
    grep -m1 -E "not done yet|panicked" /tmp/exercise.log
    echo "not done: $1 fails"; return 1
}

breaks() {
    # $1 is deliberately split into words (`--test chat`, `--lib`).
    # shellcheck disable=SC2086
    if cargo test -q $1 "$2" -- --exact >/tmp/exercise.log 2>&1; then
        grep -q "1 passed" /tmp/exercise.log || { echo "no test named $2"; return 3; }
        echo "not done: $2 still passes"; return 1
    fi
    grep -q "test result: FAILED" /tmp/exercise.log \
        || { echo "the build failed, not the test:"; tail -n 20 /tmp/exercise.log; return 3; }
    echo "done: $2 fails, as it should once you have broken it"
}

# A step of the ladder broken on purpose: its probe (ladder/tests/bugs.rs) run at that step.
ladder() {
    LADDER_ONLY="$1,$2" cargo test -q -p chatroom-ladder --test bugs -- --nocapture \
        >/tmp/exercise.log 2>&1
    if grep -q "$1 at step $2: bug" /tmp/exercise.log; then
        echo "done: $1 shows the bug at step $2"; return 0
    fi
    if grep -q "$1 at step $2: fixed" /tmp/exercise.log; then
        echo "not done: step $2 still fixes it ($1 sees no bug)"; return 1
    fi
    echo "the check itself failed:"; tail -n 20 /tmp/exercise.log; return 3
}

if [ "${1:-}" = "--all-undone" ]; then
    status=0
    for n in 1 2 3 4 5 6 7 8 9 10 11 12; do
        check "$n" >/tmp/exercise-$n.out 2>&1
        case $? in
            1) ;;
            0) echo "exercise $n is done on the untouched code: its check has rotted" >&2; status=1 ;;
            *) echo "exercise $n's check is broken: $(tail -n 1 /tmp/exercise-$n.out)" >&2; status=1 ;;
        esac
    done
    [ "$status" = 0 ] && echo "every exercise's check fails on the untouched code, as it must"
    exit "$status"
fi
check "${1:?usage: scripts/exercise.sh N | --all-undone}"
