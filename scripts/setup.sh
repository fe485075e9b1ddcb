#!/usr/bin/env bash
# Everything `make run`, `make test` and `make bench` need on a Debian 12 machine.
# Each step checks whether it is already done and skips itself, so a second run is
# quick and prints nothing. Anything that fails stops the whole set-up with a message:
# the app and the tests are never run without SpatiaLite, PostGIS or Chromium.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=.venv
APT_PACKAGES=(
    libsqlite3-mod-spatialite   # SpatiaLite for the embedded SQLite database
    postgresql-15-postgis-3     # PostGIS for the production database (and the second test run)
    chromium                    # headless browser for the page and PWA tests
    fonts-noto-cjk              # Chinese glyphs in screenshots and PDFs
    poppler-utils               # pdftotext and pdftoppm: the tests read and render the PDFs
)

say() { printf 'setup: %s\n' "$*"; }
die() { printf '\nsetup: FAILED: %s\n\n' "$*" >&2; exit 1; }

# `make run` and `make test` started together must not build the same .venv at once.
exec 9<"${BASH_SOURCE[0]}"
flock 9

# --- system packages -------------------------------------------------------------
# `dpkg -s` alone also succeeds for a removed package whose config files remain.
installed() { [[ $(dpkg -s "$1" 2>/dev/null) == *"Status: install ok installed"* ]]; }

# Debian's own python3 makes virtual environments only with python3-venv installed.
if [[ ! -x $VENV/bin/python ]] && ! python3 -c 'import ensurepip' 2>/dev/null; then
    APT_PACKAGES+=(python3-venv)
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    installed "$pkg" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    say "installing Debian packages: ${missing[*]}"
    sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null || die "not root and no sudo: run as root: apt-get install ${missing[*]}"
        sudo=(sudo -n)
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt_opts=(-y -q -o DPkg::Lock::Timeout=300)
    "${sudo[@]}" apt-get update -q >/dev/null \
        || die "apt-get update failed; cannot install ${missing[*]}"
    "${sudo[@]}" apt-get install "${apt_opts[@]}" "${missing[@]}" \
        || die "apt-get install ${missing[*]} failed; Doorstep needs SpatiaLite, PostGIS and Chromium"
    for pkg in "${missing[@]}"; do
        installed "$pkg" || die "$pkg is still not installed after apt-get install"
    done
fi

# --- Python virtual environment ------------------------------------------------------
PY="$VENV/bin/python"
if [[ -x $PY ]] && ! "$PY" -c '' 2>/dev/null; then
    say "$VENV is broken (its Python no longer runs); making it again"
    rm -rf "$VENV"
fi
if [[ ! -x $PY ]]; then
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "Doorstep needs Python 3.11 or newer as python3 (found: $(python3 --version 2>&1))"
    say "creating $VENV"
    python3 -m venv "$VENV" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
fi

stamp="$VENV/.stamp-pip"
if [[ ! $stamp -nt pyproject.toml ]]; then
    say "installing Python packages (pip install -e '.[dev,postgres,s3]')"
    log="$VENV/pip-install.log"
    if ! "$PY" -m pip install --disable-pip-version-check -e '.[dev,postgres,s3]' >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "pip install failed (whole output in $log)"
    fi
    touch "$stamp"
fi

# --- PWA (npm) ---------------------------------------------------------------------
if [[ -f pwa/package.json ]]; then
    command -v npm >/dev/null || die "pwa/package.json needs npm (Node 20), which is not installed"
    stamp="$VENV/.stamp-npm-install"
    has_deps() {
        (cd pwa && node -e 'const p = require("./package.json");
            process.exit(Object.keys({...p.dependencies, ...p.devDependencies}).length ? 0 : 1)')
    }
    if [[ ! $stamp -nt pwa/package.json ]] || { [[ ! -d pwa/node_modules ]] && has_deps; } ||
       [[ -f pwa/package-lock.json && ! $stamp -nt pwa/package-lock.json ]]; then
        npm_opts=(--no-audit --no-fund --loglevel=error)
        if [[ -f pwa/package-lock.json ]]; then
            say "installing PWA packages (npm ci)"
            (cd pwa && npm ci "${npm_opts[@]}") || die "npm ci in pwa/ failed"
        else
            say "installing PWA packages (npm install)"
            (cd pwa && npm install "${npm_opts[@]}") || die "npm install in pwa/ failed"
        fi
        touch "$stamp"
        rm -f "$VENV/.stamp-pwa-build"
    fi

    # Rebuild when any source under pwa/ changed, or when the build's dist/ is gone.
    stamp="$VENV/.stamp-pwa-build"
    if [[ ! -f $stamp ]] ||
       [[ -n $(find pwa \( -path pwa/node_modules -o -path pwa/dist \) -prune -o \
                     -type f -newer "$stamp" -print -quit) ]] ||
       { grep -qx dist "$stamp" && [[ ! -d pwa/dist ]]; }; then
        if (cd pwa && node -e 'process.exit(require("./package.json").scripts?.build ? 0 : 1)'); then
            say "building the PWA (npm run build)"
            (cd pwa && npm run --silent build) || die "npm run build in pwa/ failed"
        fi
        if [[ -d pwa/dist ]]; then echo dist >"$stamp"; else : >"$stamp"; fi
    fi
fi

# --- translations ------------------------------------------------------------------
if [[ -d server/translations ]]; then
    stamp="$VENV/.stamp-translations"
    need=0
    while IFS= read -r -d '' po; do
        if [[ ! -f ${po%.po}.mo || ! $stamp -nt $po ]]; then need=1; break; fi
    done < <(find server/translations -name '*.po' -print0)
    if ((need)); then
        say "compiling translations"
        "$VENV/bin/pybabel" -q compile -d server/translations || die "pybabel compile failed"
        while IFS= read -r -d '' po; do
            [[ -f ${po%.po}.mo ]] || say "warning: $po was not compiled (is its header marked fuzzy?)"
        done < <(find server/translations -name '*.po' -print0)
        touch "$stamp"
    fi
fi

# --- verify the parts that must be real ------------------------------------------------
"$PY" -c '
import pysqlite3.dbapi2 as sqlite3
con = sqlite3.connect(":memory:")
con.enable_load_extension(True)
con.load_extension("mod_spatialite")
con.execute("SELECT spatialite_version()").fetchone()
' || die "SpatiaLite does not load into pysqlite3 (is libsqlite3-mod-spatialite installed?)"
[[ -x /usr/bin/chromium ]] || die "/usr/bin/chromium is missing (apt-get install chromium)"
