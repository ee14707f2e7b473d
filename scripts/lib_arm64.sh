# Shared by the aarch64 end-to-end scripts (test_aarch64_e2e.sh, test_aarch64_runtime_wheel.sh):
# sourced after ROOT, BUILD and step() are set. Provides quiet, need, arm64_check_tools,
# arm64_flexbuffers_include DIR and arm64_sysroot (sets SYSROOT and PY_ARM).
# Exit code 3 of the callers: a download failed (Debian or PyPI unreachable).
quiet() {  # run a command, show its output only when it fails
  local log rc=0; log=$(mktemp)
  "$@" >"$log" 2>&1 || rc=$?
  if [[ $rc != 0 ]]; then cat "$log" >&2; fi
  rm -f "$log"; return $rc
}
need() { command -v "$1" >/dev/null || { echo "missing tool: $1 ($2)" >&2; exit 2; }; }
arm64_check_tools() {
  need aarch64-linux-gnu-g++ "apt-get install g++-aarch64-linux-gnu"
  need qemu-aarch64 "apt-get install qemu-user"
  need cmake "cmake"
  need ninja "apt-get install ninja-build"
  need apt-get "Debian"
  need dpkg "Debian"
  [[ -f /usr/include/flatbuffers/flexbuffers.h ]] || { echo "missing flexbuffers.h (apt-get install libflatbuffers-dev)" >&2; exit 2; }
}

# flexbuffers.h (header-only) without putting the host's /usr/include on the cross compiler's path:
# a directory holding only a link to /usr/include/flatbuffers.
arm64_flexbuffers_include() {
  mkdir -p "$1"
  ln -sfn /usr/include/flatbuffers "$1/flatbuffers"
}

# The arm64 Python 3.11 sysroot $BUILD/arm64-sysroot from Debian bookworm .debs (cached).
arm64_sysroot() {
  SYSROOT="$BUILD/arm64-sysroot"
  APTDIR="$BUILD/arm64-apt"
  DEBS=(python3.11-minimal libpython3.11-minimal libpython3.11-stdlib python3.11 libc6 libstdc++6
        libgcc-s1 zlib1g libexpat1 libffi8 libssl3 libbz2-1.0 liblzma5 libcrypt1 libsqlite3-0
        libuuid1 libtinfo6 libncursesw6 libreadline8 libdb5.3 libnsl2 libtirpc3 libgssapi-krb5-2
        libkrb5-3 libk5crypto3 libkrb5support0 libcom-err2 libkeyutils1 media-types)
  STAMP="$SYSROOT/.kbnn-sysroot-ok"
  if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "${DEBS[*]}" ]]; then
    step "building the arm64 sysroot $SYSROOT from Debian bookworm .debs"
    mkdir -p "$APTDIR/lists/partial" "$APTDIR/archives/partial" "$APTDIR/debs" "$APTDIR/sources.list.d"
    : > "$APTDIR/status"
    cat > "$APTDIR/sources.list" <<'EOF'
deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-updates main
deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main
EOF
    APT=(apt-get -q -o APT::Architecture=arm64 -o APT::Architectures=arm64
         -o Dir::State::Lists="$APTDIR/lists" -o Dir::State::status="$APTDIR/status"
         -o Dir::Cache="$APTDIR" -o Dir::Cache::archives="$APTDIR/archives"
         -o Dir::Etc::SourceList="$APTDIR/sources.list" -o Dir::Etc::SourceParts="$APTDIR/sources.list.d"
         -o Debug::NoLocking=1)
    if ! quiet "${APT[@]}" update; then
      echo "apt-get update (arm64, Debian bookworm) failed: Debian unreachable?" >&2; exit 3
    fi
    if ! (cd "$APTDIR/debs" && rm -f ./*.deb && quiet "${APT[@]}" download "${DEBS[@]/%/:arm64}"); then
      echo "apt-get download of the arm64 .debs failed: Debian unreachable?" >&2; exit 3
    fi
    rm -rf "$SYSROOT"; mkdir -p "$SYSROOT"
    for deb in "$APTDIR"/debs/*.deb; do dpkg -x "$deb" "$SYSROOT"; done
    echo "${DEBS[*]}" > "$STAMP"
    echo "   $(ls "$APTDIR"/debs/*.deb | wc -l) .debs: $(cd "$APTDIR/debs" && ls *.deb | sed 's/_arm64.deb//' | tr '\n' ' ')"
  else
    step "reusing the arm64 sysroot $SYSROOT"
  fi
  PY_ARM="$SYSROOT/usr/bin/python3.11"
  [[ -x "$PY_ARM" ]] || { echo "$PY_ARM missing" >&2; exit 1; }
}
