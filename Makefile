# Canto: the two commands of the README.
#   make run    install what is missing, build, create ./var (config for
#               localhost, self-signed certificate, SQLite) and run cantod
#   make test   install what is missing, build and run every test
# Other targets: build, clean.
.PHONY: all build run test clean deps test-deps

all: build

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh --test

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build -j2

run: build
	@scripts/dev-setup.sh var
	exec build/cantod --config var/canto.yaml

test: deps test-deps
	@scripts/test.sh

clean:
	rm -rf build build-asan build-fuzz
