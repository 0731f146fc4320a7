#!/bin/sh
# Creates Label Studio's and the ModelPicker backend's databases in the compose file's postgres service.
#
# docker-compose.yml mounts this file into /docker-entrypoint-initdb.d, whose scripts the official
# postgres image runs once: on the first start, when its data volume is empty (never again, so changing
# LS_DB_PASSWORD or BACKEND_DB_PASSWORD in .env afterwards does not change the roles' passwords:
# ALTER ROLE ... PASSWORD by hand, or start on a new volume).
#
#   role labelstudio  owns database labelstudio  (Label Studio: POSTGRE_USER, POSTGRE_NAME)
#   role backend      owns database modelpicker  (the backend and its rq workers: DATABASE_URL)
#
# Neither role is a superuser, and neither may connect to the other's database. The passwords come from
# the service's environment and reach the SQL through psql variables (\getenv, quoted with :'name'),
# so they never appear on a command line and any character is safe. The image runs the script as its
# superuser (POSTGRES_USER) on a server that listens on its Unix socket only, and may source it instead of
# running it, so it sets no shell options: a missing password or a failed statement stops that first start
# (psql's ON_ERROR_STOP, the image's own `set -e`).
: "${LS_DB_PASSWORD:?LS_DB_PASSWORD is not set (make compose-env writes it into .env)}"
: "${BACKEND_DB_PASSWORD:?BACKEND_DB_PASSWORD is not set (make compose-env writes it into .env)}"

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres <<'SQL'
\getenv ls_password LS_DB_PASSWORD
\getenv backend_password BACKEND_DB_PASSWORD
CREATE ROLE labelstudio LOGIN PASSWORD :'ls_password';
CREATE ROLE backend LOGIN PASSWORD :'backend_password';
CREATE DATABASE labelstudio OWNER labelstudio;
CREATE DATABASE modelpicker OWNER backend;
REVOKE ALL ON DATABASE labelstudio FROM PUBLIC;
REVOKE ALL ON DATABASE modelpicker FROM PUBLIC;
SQL
