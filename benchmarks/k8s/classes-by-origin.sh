#!/bin/sh
# Loaded classes by origin from a -Xlog:class+load=info file (benchmarks/k8s/footprint.sh's nmt runs):
# one row per origin, classes from the class-data-sharing archive ("shared objects file") and not.
# Lambda and method-handle classes spun at run time count under "generated".
#   benchmarks/k8s/classes-by-origin.sh FILE
awk '/ source: / {
    line = $0; sub(/^.*\] /, "", line); split(line, w, " "); name = w[1]; src = ($0 ~ /source: shared objects file/) ? "shared" : "parsed"
    if (name ~ /\$\$Lambda\$|LambdaForm\$|\/0x|\$Proxy[0-9]|GeneratedConstructorAccessor|GeneratedMethodAccessor|GeneratedSerializationConstructorAccessor/) o = "generated (lambdas, method handles, proxies, reflection)"
    else if (name ~ /^io\.fabric8\.kubernetes\.api\.model\./) o = "fabric8 model (io.fabric8.kubernetes.api.model)"
    else if (name ~ /^io\.fabric8\.kubernetes\.client\.jdkhttp\./) o = "fabric8 JDK HTTP adapter"
    else if (name ~ /^io\.fabric8\./) o = "fabric8 client (other)"
    else if (name ~ /^com\.fasterxml\.jackson\.dataformat\.yaml/) o = "Jackson YAML"
    else if (name ~ /^com\.fasterxml\.jackson\./) o = "Jackson"
    else if (name ~ /^(java\.net\.http|jdk\.internal\.net\.http)\./) o = "JDK HTTP client (java.net.http)"
    else if (name ~ /^(sun\.security\.ssl|javax\.net\.ssl)\./) o = "JSSE"
    else if (name ~ /^(sun\.security|java\.security|javax\.security|com\.sun\.crypto|javax\.crypto|sun\.security)\./) o = "JDK security/crypto (non-SSL)"
    else if (name ~ /^io\.zerohop\./) o = "zerohop"
    else if (name ~ /^io\.netty\./) o = "Netty"
    else if (name ~ /^org\.bouncycastle\./) o = "BouncyCastle"
    else if (name ~ /^org\.yaml\.snakeyaml\./) o = "SnakeYAML"
    else if (name ~ /^picocli\./) o = "picocli"
    else if (name ~ /^io\.micrometer\./) o = "Micrometer"
    else if (name ~ /^org\.slf4j\./) o = "slf4j"
    else if (name ~ /^(java|javax|jdk|sun|com\.sun)\./) o = "JDK (other)"
    else { split(name, p, "."); o = "other: " p[1] "." p[2] }
    n[o]++; s[o, src]++; total++; ts[src]++
}
END {
    printf "| origin | classes | from the archive | parsed or generated |\n|---|---:|---:|---:|\n"
    for (o in n) printf "| %s | %d | %d | %d |\n", o, n[o], s[o, "shared"], s[o, "parsed"] | "sort -t\"|\" -k3 -rn"
    close("sort -t\"|\" -k3 -rn")
    printf "| total | %d | %d | %d |\n", total, ts["shared"], ts["parsed"]
}' "$1"
