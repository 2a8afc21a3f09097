package io.zerohop.cli;

import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.identity.Pem;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code zerohop ca init|issue}: a file-backed CA for development and small meshes. */
@Command(name = "ca", mixinStandardHelpOptions = true, version = Zerohop.VERSION, description = "Create a CA and issue X.509-SVIDs as PEM files.",
        subcommands = {CaCommand.Init.class, CaCommand.Issue.class})
final class CaCommand {

    @Command(name = "init", mixinStandardHelpOptions = true, version = Zerohop.VERSION,
            description = {"Create a root (and optionally an intermediate) CA in --out: root.pem, root.key and bundle.pem.",
                    "Exit codes: 0 written, 1 failure (a CA already in --out without --force), 2 usage (the message names the option)."})
    static final class Init implements Callable<Integer> {
        @Option(names = "--trust-domain", required = true, description = "Trust domain, e.g. cluster.local")
        String trustDomain;

        @Option(names = "--out", required = true, description = "Directory to write the CA into")
        Path out;

        @Option(names = "--intermediate", description = "Also create an intermediate CA that signs leaves")
        boolean intermediate;

        @Option(names = "--force", description = "Overwrite an existing CA in --out")
        boolean force;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            Usage u = new Usage(spec, ConfigFile.Origins.NONE);
            // A mistyped trust domain is a usage error naming the option, as every other option value.
            InMemoryCa.Builder builder = Usage.parse(u, "trust-domain", trustDomain, () -> InMemoryCa.builder().trustDomain(trustDomain));
            u.outputDirectory("out", out);
            boolean replaced = Files.exists(out.resolve("root.key"));
            if (replaced && !force) {
                throw new IllegalArgumentException(out.resolve("root.key") + " exists; pass --force to replace the CA");
            }
            InMemoryCa ca = builder.intermediate(intermediate).build();
            ca.save(out);
            // The trust domain as the certificates carry it (java-spiffe lower-cases it), not as typed.
            System.out.println("CA for trust domain " + ca.trustDomain().getName() + " written to " + out
                    + " (root.pem, root.key" + (intermediate ? ", intermediate.pem, intermediate.key" : "") + ", bundle.pem)");
            if (replaced) {
                // A proxy reads --ca once, at start (a new-user pass: the replacement said nothing of running proxies).
                System.out.println("Replaced the CA that was there: proxies running with --ca " + out + " keep the old root until they"
                        + " restart, and old and new roots do not verify each other; restart them together");
            }
            return 0;
        }
    }

    @Command(name = "issue", mixinStandardHelpOptions = true, version = Zerohop.VERSION,
            description = {"Issue an X.509-SVID: cert.pem (chain, leaf first), key.pem (PKCS#8), bundle.pem in --out.",
                    "Exit codes: 0 written, 1 failure (e.g. --id outside the CA's trust domain), 2 usage (the message names the option)."})
    static final class Issue implements Callable<Integer> {
        @Option(names = "--ca", required = true, description = "CA directory written by `zerohop ca init`")
        Path caDir;

        @Option(names = "--id", required = true, description = "SPIFFE ID, e.g. spiffe://cluster.local/ns/prod/sa/web")
        String id;

        @Option(names = "--out", required = true, description = "Directory for cert.pem, key.pem, bundle.pem")
        Path out;

        @Option(names = "--ttl", defaultValue = "24h", description = "Validity (s, m, h, d), default ${DEFAULT-VALUE}")
        String ttl;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            // Every option is checked before anything is read or written: a mistake is a usage error (exit 2)
            // naming its option, as in `proxy`, `connect` and `policy check`.
            Usage u = new Usage(spec, ConfigFile.Origins.NONE);
            u.path("ca", caDir, Usage.Kind.DIRECTORY);
            SpiffeId spiffeId = Usage.parse(u, "id", id, () -> SpiffeIds.parse(id));
            if (spiffeId.getPath().isEmpty()) {
                // spiffe/spiffe X509-SVID.md 4.1: a leaf names a workload; the CA would issue one no peer accepts.
                throw u.error("id", id, "a workload SPIFFE ID has a path (spiffe://trust-domain/path); a trust domain alone names no workload");
            }
            java.time.Duration validity = u.duration("ttl", ttl);
            if (validity.isZero()) {
                throw u.error("ttl", ttl, "an SVID needs a validity above zero");
            }
            if (validity.compareTo(java.time.Duration.ofSeconds(1)) < 0) {
                // Durations take ms (for --handshake-timeout, --drain); X.509 validity is in whole seconds (RFC 5280 4.1.2.5).
                throw u.error("ttl", ttl, "an SVID's validity is in whole seconds: give at least 1s");
            }
            if (!Files.exists(caDir.resolve("root.pem"))) {
                throw u.error("ca", caDir.toString(), caDir + " holds no CA (root.pem missing); run `zerohop ca init` first");
            }
            InMemoryCa ca = InMemoryCa.load(caDir, validity);
            java.time.Instant asked = java.time.Instant.now().plus(validity);
            X509Svid svid = ca.issue(spiffeId);
            // A leaf that outlives its issuer stops verifying when the issuer expires, long before its own end. The CA
            // cuts a leaf to its issuer's end (as istiod), so the request, not the leaf, is compared: a user who asked
            // for 100000d is told, not handed a shorter certificate in silence.
            java.util.Date caEnd = ca.root().getNotAfter();
            for (java.security.cert.X509Certificate c : svid.getChain().subList(1, svid.getChain().size())) {
                caEnd = c.getNotAfter().before(caEnd) ? c.getNotAfter() : caEnd;
            }
            if (asked.isAfter(caEnd.toInstant())) {
                throw u.error("ttl", ttl, "an SVID valid for " + ttl + " would outlive its CA (valid until " + caEnd.toInstant()
                        + "); issue a shorter one");
            }
            u.outputDirectory("out", out);
            Pem.write(out.resolve("cert.pem"), Pem.certificates(svid.getChain()), false);
            Pem.write(out.resolve("key.pem"), Pem.privateKey(svid.getPrivateKey()), true);
            Files.copy(caDir.resolve("bundle.pem"), out.resolve("bundle.pem"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            System.out.println("SVID for " + spiffeId + " valid until " + svid.getLeaf().getNotAfter().toInstant()
                    + " written to " + out + " (cert.pem, key.pem, bundle.pem)");
            return 0;
        }
    }
}
