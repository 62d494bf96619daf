# Two commands on a fresh Debian/Ubuntu machine: `make run` and `make test` (README, "Quick start").
# Both first install the system packages the build needs, with apt-get (via sudo when not root).

ADDR        ?= 127.0.0.1:1234
CARGO       ?= cargo
# Build: OpenCV headers and libraries, and libclang for the opencv crate's binding generator;
# FFmpeg's libraries for the default decoder; cmake and nasm to build libjpeg-turbo 3.
BUILD_PKGS  := libopencv-dev clang libclang-dev pkg-config \
               libavcodec-dev libavformat-dev libswscale-dev libavutil-dev cmake nasm
# Tests only: a virtual display, and tools to find, screenshot and type into the test window;
# faketime, to run a client whose clock is wrong.
TEST_PKGS   := xvfb x11-utils xdotool imagemagick tmux faketime

.PHONY: deps test-deps build run client test ladder compare original-bugs fmt lint clean

deps:
	@scripts/install-packages.sh $(BUILD_PKGS)

test-deps: deps
	@scripts/install-packages.sh $(TEST_PKGS)

build: deps
	$(CARGO) build --release

## Start the server on $(ADDR), serving ./videos.
run: build
	./target/release/chatroom server --bind $(ADDR) --videos videos

## Join the server on $(ADDR) from another terminal.
client: build
	./target/release/chatroom client --server $(ADDR)

## Format check, lints, then every test (what CI runs): the product's and the ladder's.
test: test-deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) test --workspace --all-targets
	CHATROOM_DECODER=opencv $(CARGO) test --test stream --test cache
	scripts/exercise.sh --all-undone

## Every bug of the original against every step of the ladder (chatroom-step N); writes the
## table into docs/LADDER.md. Fails if a bug is not fixed by the last step or comes back.
ladder: test-deps
	LADDER_WRITE=1 $(CARGO) test -p chatroom-ladder --test bugs -- --nocapture

## The Python original and this project, same workloads, one table (also docs/COMPARISON.md).
## ORIGINAL=DIR: a clone of the original (scripts/fetch-original.sh makes one in original/).
## LADDER=1: each step of the ladder instead, on the same chat and stream workloads (no
## original needed; about a minute).
ORIGINAL ?= $(wildcard original)
compare: build
ifeq ($(LADDER),1)
	python3 scripts/ladder-compare.py
else
	@test -n "$(ORIGINAL)" || { echo "usage: make compare ORIGINAL=DIR (scripts/fetch-original.sh clones it into original/)"; exit 2; }
	python3 scripts/compare.py $(ORIGINAL)
endif

## The bugs docs/PYTHON_TO_RUST.md lists, shown in the running original (after `make compare`).
original-bugs:
	python3 scripts/original-bugs.py

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
