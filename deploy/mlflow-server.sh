#!/usr/bin/env bash
# A team's MLflow tracking server and model registry for partnerscore: `mlflow server`
# on PostgreSQL (Debian's postgresql package), artifacts proxied by the server from a
# directory, MLflow's basic-auth app with a generated admin password. See docs/team.md.
#
#   deploy/mlflow-server.sh init            create role, databases, secrets and auth config (idempotent)
#   deploy/mlflow-server.sh start           run the server in the foreground (systemd, tmux, nohup ...)
#   deploy/mlflow-server.sh add-user NAME [READ|EDIT|MANAGE|NO_PERMISSIONS]
#                                           create a user (password printed once) and, optionally,
#                                           give it that permission on the partnerscore
#                                           experiment and registered model
#
# Settings (environment; defaults in brackets):
#   MLFLOW_SERVER_HOME   state: secrets, auth config, artifacts [/var/lib/partnerscore-mlflow as
#                        root, else ~/partnerscore-mlflow]
#   MLFLOW_HOST, MLFLOW_PORT, MLFLOW_SERVER_WORKERS   [127.0.0.1, 5000, 2]
#   MLFLOW_ALLOWED_HOSTS Host headers accepted besides localhost and private addresses
#   PGHOST, PGPORT       where the cluster's superuser reaches PostgreSQL [Debian's socket, 5432]
#   PG_OS_USER           the operating-system user owning the cluster, used when run as root [postgres]
#   MLFLOW_DB_HOST, MLFLOW_DB_PORT   where the server reaches PostgreSQL over TCP [127.0.0.1, PGPORT]
#   MLFLOW_DB_USER, MLFLOW_DB_NAME, MLFLOW_AUTH_DB_NAME   [mlflow, mlflow, mlflow_auth]
#   MLFLOW_DB_PASSWORD, MLFLOW_AUTH_ADMIN_PASSWORD        used by `init` when set, else generated
#   MLFLOW_ADMIN_USERNAME [admin]; MLFLOW_BIN [this checkout's .venv/bin/mlflow, else mlflow]
#   PARTNERSCORE_EXPERIMENT, PARTNERSCORE_MODEL   names used by add-user [partnerscore, partnerscore]
set -euo pipefail
umask 077

here="$(cd "$(dirname "$0")" && pwd)"
if [ "$(id -u)" = 0 ]; then default_home=/var/lib/partnerscore-mlflow; else default_home="$HOME/partnerscore-mlflow"; fi
home="${MLFLOW_SERVER_HOME:-$default_home}"
host="${MLFLOW_HOST:-127.0.0.1}"
port="${MLFLOW_PORT:-5000}"
workers="${MLFLOW_SERVER_WORKERS:-2}"
pg_port="${PGPORT:-5432}"
db_host="${MLFLOW_DB_HOST:-127.0.0.1}"
db_port="${MLFLOW_DB_PORT:-$pg_port}"
db_user="${MLFLOW_DB_USER:-mlflow}"
db_name="${MLFLOW_DB_NAME:-mlflow}"
auth_db_name="${MLFLOW_AUTH_DB_NAME:-mlflow_auth}"
admin_user="${MLFLOW_ADMIN_USERNAME:-admin}"
pg_os_user="${PG_OS_USER:-postgres}"
if [ -n "${MLFLOW_BIN:-}" ]; then mlflow_bin="$MLFLOW_BIN"
elif [ -x "$here/../.venv/bin/mlflow" ]; then mlflow_bin="$(cd "$here/.." && pwd)/.venv/bin/mlflow"
else mlflow_bin="$(command -v mlflow || true)"; fi
python_bin="$(dirname "$mlflow_bin")/python"
[ -x "$python_bin" ] || python_bin="$(command -v python3)"

die() { echo "mlflow-server: $*" >&2; exit 1; }
[ -n "$mlflow_bin" ] && [ -x "$mlflow_bin" ] || die "mlflow not found: run 'make install' or set MLFLOW_BIN"

generate_password() { "$python_bin" -c 'import secrets; print(secrets.token_urlsafe(30))'; }

# psql as the cluster's superuser: through runuser when root (peer authentication on the
# socket), else as the current user (who owns the cluster or sets PGUSER/PGPASSWORD).
pg_admin() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u "$pg_os_user" -- psql "$@"); else psql "$@"; fi
}

# With no PGHOST, the Debian cluster on PGPORT is the one meant: start it if it is down.
start_debian_cluster() {
  [ -z "${PGHOST:-}" ] && command -v pg_lsclusters >/dev/null || return 0
  pg_lsclusters --no-header | while read -r version name cluster_port status _; do
    if [ "$cluster_port" = "$pg_port" ] && [ "$status" = down ]; then
      pg_ctlcluster "$version" "$name" start
    fi
  done
}

write_secrets() {
  mkdir -p "$home/artifacts"
  chmod 700 "$home" "$home/artifacts"
  if [ ! -s "$home/pgpass" ]; then
    local password="${MLFLOW_DB_PASSWORD:-$(generate_password)}"
    # libpq's password file: host:port:database:user:password (':' and '\' escaped)
    password="${password//\\/\\\\}"; password="${password//:/\\:}"
    printf '%s:%s:*:%s:%s\n' "$db_host" "$db_port" "$db_user" "$password" > "$home/pgpass"
  fi
  if [ ! -s "$home/admin.env" ]; then
    local admin_password="${MLFLOW_AUTH_ADMIN_PASSWORD:-$(generate_password)}"
    [ "${#admin_password}" -ge 12 ] || die "MLFLOW_AUTH_ADMIN_PASSWORD must have at least 12 characters"
    printf 'MLFLOW_TRACKING_USERNAME=%q\nMLFLOW_TRACKING_PASSWORD=%q\n' "$admin_user" "$admin_password" \
      > "$home/admin.env"
  fi
  # Flask signs the basic-auth app's CSRF tokens with this key; it must stay the same across
  # restarts and workers.
  [ -s "$home/flask_secret" ] || generate_password > "$home/flask_secret"
  chmod 600 "$home/pgpass" "$home/admin.env" "$home/flask_secret"
  # The auth database is PostgreSQL too; its password comes from pgpass, not from this file.
  cat > "$home/basic_auth.ini" <<EOF
[mlflow]
default_permission = READ
database_uri = postgresql://${db_user}@${db_host}:${db_port}/${auth_db_name}
admin_username = ${admin_user}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
grant_default_workspace_access = false
# Each request's password check costs a deliberate PBKDF2 hash; a training run makes
# hundreds of requests. Checked credentials are remembered this long per worker, so a
# changed or deleted password can keep working on another worker for up to this long.
auth_cache_ttl_seconds = ${MLFLOW_AUTH_CACHE_SECONDS:-60}
EOF
  chmod 600 "$home/basic_auth.ini"
}

create_databases() {
  local password
  password="$(cut -d: -f5- "$home/pgpass" | sed 's/\\\(.\)/\1/g')"
  # The password travels in the environment (psql's \getenv), never on a command line.
  MLFLOW_DB_PASSWORD="$password" pg_admin -X -q -v ON_ERROR_STOP=1 -d postgres \
    -v role="$db_user" -v db="$db_name" -v auth_db="$auth_db_name" <<'SQL'
\getenv password MLFLOW_DB_PASSWORD
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN PASSWORD :'password';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'auth_db', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'auth_db') \gexec
SQL
}

cmd_init() {
  command -v psql >/dev/null || die "psql not found: install Debian's postgresql package (deploy/system-deps.sh)"
  write_secrets
  start_debian_cluster
  create_databases
  echo "initialised $home: PostgreSQL role '$db_user', databases '$db_name' and '$auth_db_name';"
  echo "admin credentials in $home/admin.env (readable by $(id -un) only)"
}

cmd_start() {
  [ -s "$home/admin.env" ] && [ -s "$home/pgpass" ] && [ -s "$home/flask_secret" ] || die "run '$0 init' first"
  local extra=()
  [ -z "${MLFLOW_ALLOWED_HOSTS:-}" ] || extra+=(--allowed-hosts "$MLFLOW_ALLOWED_HOSTS")
  # The admin password only seeds the admin user on the first start; it is read from the
  # owner-only file here and never appears on a command line.
  local admin_password
  admin_password="$(set +u; . "$home/admin.env"; printf '%s' "$MLFLOW_TRACKING_PASSWORD")"
  echo "mlflow server on http://$host:$port (PostgreSQL $db_host:$db_port/$db_name, artifacts $home/artifacts)" >&2
  exec env PGPASSFILE="$home/pgpass" MLFLOW_AUTH_CONFIG_PATH="$home/basic_auth.ini" \
    MLFLOW_AUTH_ADMIN_PASSWORD="$admin_password" MLFLOW_FLASK_SERVER_SECRET_KEY="$(cat "$home/flask_secret")" \
    "$mlflow_bin" server \
    --backend-store-uri "postgresql://${db_user}@${db_host}:${db_port}/${db_name}" \
    --artifacts-destination "$home/artifacts" --serve-artifacts \
    --host "$host" --port "$port" --workers "$workers" --app-name basic-auth "${extra[@]}"
}

cmd_add_user() {
  local name="${1:-}" permission="${2:-}"
  [ -n "$name" ] || die "usage: $0 add-user NAME [READ|EDIT|MANAGE|NO_PERMISSIONS]"
  [ -s "$home/admin.env" ] || die "run '$0 init' first"
  local password="${NEW_USER_PASSWORD:-$(generate_password)}"
  # shellcheck disable=SC1091
  (set -a; . "$home/admin.env"; set +a
   NEW_USER="$name" NEW_USER_PASSWORD="$password" NEW_USER_PERMISSION="$permission" \
   MLFLOW_TRACKING_URI="http://$host:$port" "$python_bin" - <<'PY'
import os
import sys

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.server.auth.client import AuthServiceClient

uri, user = os.environ["MLFLOW_TRACKING_URI"], os.environ["NEW_USER"]
auth, client = AuthServiceClient(uri), MlflowClient(uri, uri)
auth.create_user(user, os.environ["NEW_USER_PASSWORD"])
permission = os.environ["NEW_USER_PERMISSION"]
if permission:
    experiment = client.get_experiment_by_name(os.environ.get("PARTNERSCORE_EXPERIMENT", "partnerscore"))
    model = os.environ.get("PARTNERSCORE_MODEL", "partnerscore")
    try:
        client.get_registered_model(model)
    except MlflowException:
        model = None
    if experiment is None or model is None:
        print(f"no partnerscore experiment or model yet: grant {permission} after the first "
              "training (docs/team.md, section 2)", file=sys.stderr)
    if experiment is not None:
        auth.grant_user_permission(user, "experiment", experiment.experiment_id, permission)
    if model is not None:
        auth.grant_user_permission(user, "registered_model", model, permission)
PY
  )
  echo "user '$name' created; password (shown once): $password"
}

case "${1:-help}" in
  init) cmd_init ;;
  start) cmd_start ;;
  add-user) shift; cmd_add_user "$@" ;;
  *) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
     [ "${1:-help}" = help ] ;;
esac
