#!/bin/sh
# Istio's ztunnel Grafana dashboard (istio/istio manifests/addons/dashboards/ztunnel-dashboard.gen.json), read on
# stdin, written on stdout with its selectors pointed at zerohop's node proxy: pods zerohop-node-* (not ztunnel-*),
# label app: zerohop-node (not ztunnel), container proxy (not istio-proxy), under its own title and uid so that it
# sits beside the original. Its queries are otherwise unchanged: zerohop serves ztunnel's metric names, labels and
# istio_build{component="ztunnel"} (its tag is zerohop's version). Its DNS, XDS and Workload Manager panels stay
# empty: zerohop has no DNS proxy, no xDS client and no in-pod mode. deploy/README.md, "Metrics and Istio's
# dashboards". For example (Istio's version as you run it):
#   curl -sL https://raw.githubusercontent.com/istio/istio/1.28.0/manifests/addons/dashboards/ztunnel-dashboard.gen.json \
#     | sh deploy/dashboards/ztunnel-for-zerohop.sh > zerohop-node-dashboard.json
# then import zerohop-node-dashboard.json into Grafana. The dashboard's queries sit in JSON strings, so their quotes
# are escaped (\"): the patterns below match that form, indented or compact (jq -c) JSON alike; with the title and
# uid left as they were, an import would replace Istio's own ztunnel dashboard.
exec sed \
    -e 's/pod=~\\"ztunnel-\.\*\\"/pod=~\\"zerohop-node-.*\\"/g' \
    -e 's/app=\\"ztunnel\\"/app=\\"zerohop-node\\"/g' \
    -e 's/container=\\"istio-proxy\\"/container=\\"proxy\\"/g' \
    -e 's/"title":[[:space:]]*"Istio Ztunnel Dashboard"/"title": "zerohop node proxy (Istio ztunnel dashboard)"/' \
    -e 's/"uid":[[:space:]]*"[0-9a-f]\{32\}"/"uid": "zerohop-node-proxy"/'
