#!/usr/bin/env bash
# Installs what is missing, builds, and runs examples/quickstart in build/quickstart/.
# Stop it with Ctrl-C (it drains and exits).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bash scripts/install-deps.sh
bash scripts/build.sh build -DSWITCHBOARD_BUILD_TESTS=OFF

work=$root/build/quickstart
mkdir -p "$work/inbox"
cp examples/quickstart/routes.yaml "$work/"
cp examples/quickstart/sample/*.json "$work/inbox/"

cat <<TEXT

Switchboard quickstart: routes in $work/routes.yaml
Two sample orders are already in inbox/. In another terminal, try:

  cd $work
  echo '{"order": {"id": 42, "amount": 2500}}' > inbox/order-42.json
  ls outbox outbox/big archive ledger     # delivered, routed by amount, originals kept, rows polled
  sqlite3 orders.db 'SELECT * FROM orders' # every order, stored in SQLite
  cat outbox/order-42.json.meta.json      # the headers the route added
  echo 'not json' > inbox/broken.json; ls dead   # a bad message goes to the dead letter directory
  curl -H 'Content-Type: application/json' -d '{"order": {"id": 7, "amount": 90}}' http://127.0.0.1:8080/orders/7
                                          # over HTTP: answered 202, then picked up from inbox/

Press Ctrl-C here to stop (messages in flight finish first).

TEXT
cd "$work"
exec "$root/build/bin/switchboard" run routes.yaml --log-format text
