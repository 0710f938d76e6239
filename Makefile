# hermes — build entry points. The container image is made from a pre-built
# static binary; see script/image.sh and script/base-image.sh.

IMAGE      ?= hermes:dev
BASE_IMAGE ?= hermes-test-base:bookworm
BINARY     ?= build/hermes

.PHONY: help build image base-image clean

help:
	@echo 'targets:'
	@echo '  build       static binary in $(BINARY)'
	@echo '  image       build, then the image $(IMAGE) on $(BASE_IMAGE)'
	@echo '  base-image  the local Debian base image $(BASE_IMAGE) (debootstrap; cached)'
	@echo '  clean       remove build/'
	@echo '  test        the whole suite (root and Docker): gofmt, vet, race tests, fuzz smoke'
	@echo '  faults      the fault suite, long form (root and Docker; hours): see RELIABILITY.md'
	@echo '  fuzz        every fuzz target for FUZZTIME (default 10m) each'

build:
	script/build.sh -o $(BINARY)

image: build
	script/image.sh --binary $(BINARY) --tag $(IMAGE) --base $(BASE_IMAGE)

base-image:
	script/base-image.sh --tag $(BASE_IMAGE)

clean:
	rm -rf build

.PHONY: test
test:
	script/test.sh

# The fault suite's long form (RELIABILITY.md); the short form runs in
# `make test`. FAULTS_MINUTES=N caps the storm and the soak at N minutes.
.PHONY: faults
faults:
	mkdir -p build && HERMES_FAULTS=long HERMES_FAULTS_MINUTES=$(FAULTS_MINUTES) HERMES_FAULTS_FIGURES=$(CURDIR)/build/faults-figures.txt \
		go test ./e2e/ -run '^TestFault' -count=1 -v -timeout 6h

.PHONY: fuzz
fuzz:
	script/fuzz.sh
