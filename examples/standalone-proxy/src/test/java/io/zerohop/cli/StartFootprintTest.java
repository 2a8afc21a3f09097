package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.Pem;
import java.nio.file.Path;
import java.security.interfaces.ECPrivateKey;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import org.bouncycastle.asn1.sec.SECObjectIdentifiers;
import picocli.CommandLine.Model.ArgSpec;

/**
 * What a {@code zerohop proxy} start does not load (issue 14: idle RSS; every class loaded at start
 * is ~8 KB of the class-data-sharing archive, benchmarks/results/diet-59b6ebc.md), each with a control
 * showing that the class-load log would show it.
 */
class StartFootprintTest {

    @Test
    @DisplayName("no option of any zerohop command has a type whose picocli converter Zerohop excludes (java.time, java.sql)")
    void noOptionNeedsAnExcludedConverter() {
        List<Pattern> excluded = new ArrayList<>();
        for (String regex : Zerohop.CONVERTER_EXCLUDES.split(",")) {
            excluded.add(Pattern.compile(regex));
        }
        List<String> types = new ArrayList<>();
        collectTypes(Zerohop.commandLine(), types);
        assertThat(types).as("option types of every command").isNotEmpty().contains("java.nio.file.Path");
        assertThat(types).noneMatch(t -> excluded.stream().anyMatch(p -> p.matcher(t).matches()));
        // The control: the patterns do match the types picocli would otherwise register.
        assertThat(excluded).anyMatch(p -> p.matcher("java.time.Duration").matches())
                .anyMatch(p -> p.matcher("java.sql.Timestamp").matches())
                .noneMatch(p -> p.matcher("java.nio.file.Path").matches());
    }

    private static void collectTypes(CommandLine cmd, List<String> into) {
        for (ArgSpec arg : cmd.getCommandSpec().args()) {
            into.add(arg.type().getName());
            for (Class<?> aux : arg.auxiliaryTypes()) {
                into.add(aux.getName());
            }
        }
        for (CommandLine sub : cmd.getSubcommands().values()) {
            collectTypes(sub, into);
        }
    }

    @Test
    @Timeout(180)
    @DisplayName("a `zerohop proxy` start loads no java.sql class and not java.time's MonthDay (picocli's reflective converters); with them on it does")
    void aStartLoadsNoConverterOnlyJdkClass(@TempDir Path dir) throws Exception {
        List<String> loaded = ProxyStartClasses.untilReady(dir, "default", List.of(), "--in-memory-ca");
        assertThat(loaded).as("classes loaded until ready").contains("picocli.CommandLine")
                .noneMatch(c -> c.startsWith("java.sql.")).doesNotContain("java.time.MonthDay");
        // The control: with picocli's converters all on (nothing excluded), the same start loads them.
        List<String> all = ProxyStartClasses.untilReady(dir, "converters", List.of("-Dpicocli.converters.excludes="), "--in-memory-ca");
        assertThat(all).anyMatch(c -> c.startsWith("java.sql.")).contains("java.time.MonthDay");
    }

    @Test
    @Timeout(180)
    @DisplayName("a `zerohop proxy` start from PEM files with a PKCS#8 key loads no BouncyCastle class; with a SEC1 key (cert-manager's default) it does, and starts")
    void aPemFileStartWithAPkcs8KeyLoadsNoBouncyCastleClass(@TempDir Path dir) throws Exception {
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        X509Svid svid = ca.issue(SpiffeId.parse("spiffe://cluster.local/ns/default/sa/web"));
        Path cert = dir.resolve("cert.pem");
        Path pkcs8 = dir.resolve("key.pem");
        Path sec1 = dir.resolve("sec1.pem");
        Path bundle = dir.resolve("bundle.pem");
        Pem.write(cert, Pem.certificates(svid.getChain()), false);
        Pem.write(pkcs8, Pem.privateKey(svid.getPrivateKey()), true);
        ECPrivateKey k = (ECPrivateKey) svid.getPrivateKey();
        Pem.write(sec1, Pem.encode("EC PRIVATE KEY",
                new org.bouncycastle.asn1.sec.ECPrivateKey(256, k.getS(), SECObjectIdentifiers.secp256r1).getEncoded()), true);
        Pem.write(bundle, Pem.certificates(List.of(ca.root())), false);

        List<String> loaded = ProxyStartClasses.untilReady(dir, "pkcs8", List.of(),
                "--cert", cert.toString(), "--key", pkcs8.toString(), "--trust-bundle", bundle.toString());
        assertThat(loaded).as("classes loaded until ready").contains("io.zerohop.identity.PemFileIdentityProvider")
                .noneMatch(c -> c.startsWith("org.bouncycastle."));
        // The control: a SEC1 key still needs BouncyCastle's parser, and the log shows it.
        List<String> withSec1 = ProxyStartClasses.untilReady(dir, "sec1", List.of(),
                "--cert", cert.toString(), "--key", sec1.toString(), "--trust-bundle", bundle.toString());
        assertThat(withSec1).contains("org.bouncycastle.openssl.PEMParser");
    }

    @Test
    @Timeout(180)
    @DisplayName("a `zerohop proxy --in-memory-ca` start loads no locale data (CLDR): log times by LogTime, certificate times from DER; with slf4j-simple's own dateTimeFormat it does")
    void aStartLoadsNoLocaleData(@TempDir Path dir) throws Exception {
        List<String> loaded = ProxyStartClasses.untilReady(dir, "nolocale", List.of(), "--in-memory-ca");
        assertThat(loaded).as("classes loaded until ready").contains("io.zerohop.cli.LogTime", "org.bouncycastle.asn1.x509.Time")
                .doesNotContain("sun.util.cldr.CLDRLocaleProviderAdapter", "java.text.DateFormatSymbols");
        // The control: the date format the CLI named before (SimpleDateFormat) loads them, and the log shows it.
        List<String> sdf = ProxyStartClasses.untilReady(dir, "sdf",
                List.of("-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSZ"), "--in-memory-ca");
        assertThat(sdf).contains("sun.util.cldr.CLDRLocaleProviderAdapter", "java.text.DateFormatSymbols");
    }

    @Test
    @Timeout(180)
    @DisplayName("a `zerohop proxy --in-memory-ca` start builds no java.time formatter (the ztunnel access log's waits for its first line) and starts no java.util.logging: System.Logger goes to slf4j")
    void aStartLoadsNoTimeFormatterAndNoJavaUtilLogging(@TempDir Path dir) throws Exception {
        List<String> loaded = ProxyStartClasses.untilReady(dir, "nojul", List.of(), "--in-memory-ca");
        // ZtunnelAccessLog is initialised at every start (its ON flag); the JDK's certificate parsing asks for a System.Logger
        // (EventHelper.isLoggingSecurity), as Caffeine does with its first cache. Caffeine itself waits for the first tunnel:
        // MeshTls's context cache and TunnelObserver's interner are made at first use (benchmarks/results/classes-*.md).
        assertThat(loaded).as("classes loaded until ready")
                .contains("io.zerohop.core.internal.ZtunnelAccessLog", "org.slf4j.jdk.platform.logging.SLF4JSystemLoggerFinder")
                .doesNotContain("java.time.format.DateTimeFormatter", "java.util.logging.LogManager",
                        "com.github.benmanes.caffeine.cache.Caffeine");
    }

    /**
     * Netty's OpenSsl start-up asks whether the JDK's TLS has TLS 1.3 by starting it (~340 classes, ~2.7 MB
     * of RSS, benchmarks/results/tlsprobe-*.md); NettyTlsProbe answers it. BoringSSL must still do TLS 1.3
     * (no fall-back to the JDK provider, which would load the JDK's TLS anyway).
     */
    @Test
    @Timeout(180)
    @DisplayName("a `zerohop proxy` start loads none of the JDK's TLS and keeps BoringSSL's TLS 1.3; with -Dzerohop.nettyTlsProbe=jdk Netty starts the JDK's TLS")
    void aStartLoadsNoJdkTls(@TempDir Path dir) throws Exception {
        List<String> loaded = ProxyStartClasses.untilReady(dir, "notls", List.of(), "--in-memory-ca");
        assertThat(loaded).as("classes loaded until ready").contains("io.netty.handler.ssl.OpenSsl", "io.netty.handler.ssl.SslUtils")
                .doesNotContain("sun.security.ssl.SSLContextImpl")
                // The provider list's entry for SunJSSE is loaded with every provider; none of its TLS is.
                .noneMatch(c -> c.startsWith("sun.security.ssl.") && !c.startsWith("sun.security.ssl.SunJSSE"));
        List<String> jdk = ProxyStartClasses.untilReady(dir, "jdktls", List.of("-D" + NettyTlsProbe.PROPERTY + "=jdk"), "--in-memory-ca");
        assertThat(jdk).contains("sun.security.ssl.SSLContextImpl");
        assertThat(jdk.stream().filter(c -> c.startsWith("sun.security.ssl.")).count()).as("the JDK's TLS classes Netty's probe loads").isGreaterThan(100);
    }

    /**
     * A workload's first TLS contexts (a node proxy's first tunnel) start none of the JDK's TLS and build no
     * PKCS#12 store: the SVID's key goes to Netty through SvidKeyManager (no PBKDF2), and Netty's trust-manager
     * wrapper was initialised at start with SunJSSE out of the list. The control, the same start without that
     * (Netty's start-up probe still answered): the first context starts the JDK's TLS, from the wrapper's initialiser.
     */
    @Test
    @Timeout(180)
    @DisplayName("a workload's first TLS contexts load none of the JDK's TLS and no PKCS#12 or PBKDF2; without the wrapper's start-up initialisation they start the JDK's TLS")
    void theFirstContextsStartNoJdkTlsAndNoPkcs12(@TempDir Path dir) throws Exception {
        List<String> loaded = firstContextClasses(dir, "skip");
        assertThat(loaded).as("classes loaded by a first server and client context")
                .contains(NettyTlsProbe.TRUST_MANAGER_WRAPPER, "io.zerohop.identity.internal.SvidKeyManager",
                        "io.netty.handler.ssl.ReferenceCountedOpenSslServerContext")
                .doesNotContain("sun.security.ssl.SSLContextImpl", "sun.security.pkcs12.PKCS12KeyStore",
                        "com.sun.crypto.provider.PBKDF2KeyImpl", "sun.security.ssl.SunX509KeyManagerImpl")
                .noneMatch(c -> c.startsWith("sun.security.ssl.") && !c.startsWith("sun.security.ssl.SunJSSE"));
        List<String> netty = firstContextClasses(dir, "noskip");
        assertThat(netty).contains("sun.security.ssl.SSLContextImpl", NettyTlsProbe.TRUST_MANAGER_WRAPPER)
                .doesNotContain("sun.security.pkcs12.PKCS12KeyStore");
    }

    private static List<String> firstContextClasses(Path dir, String mode) throws Exception {
        Path log = dir.resolve(mode + "-classes.txt");
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xlog:class+load=info:file=" + log, "-cp", System.getProperty("java.class.path"),
                FirstContextMain.class.getName(), mode);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as(out).isZero();
        assertThat(out).contains("contexts built");
        try (java.util.stream.Stream<String> lines = java.nio.file.Files.lines(log)) {
            return lines.map(l -> l.split(" ")).filter(f -> f.length > 1).map(f -> f[1]).toList();
        }
    }

    @Test
    @DisplayName("NettyTlsProbe.withoutProvider puts the same provider back at the same place, also when the work throws")
    void withoutProviderRestoresTheList() {
        List<java.security.Provider> before = List.of(java.security.Security.getProviders());
        List<String> seen = new ArrayList<>();
        NettyTlsProbe.withoutProvider(NettyTlsProbe.SUN_JSSE, () -> {
            seen.add(String.valueOf(java.security.Security.getProvider(NettyTlsProbe.SUN_JSSE)));
            seen.add(String.valueOf(java.security.Security.getProviders().length));
        });
        assertThat(seen).containsExactly("null", String.valueOf(before.size() - 1));
        assertThat(List.of(java.security.Security.getProviders())).containsExactlyElementsOf(before);
        try {
            NettyTlsProbe.withoutProvider(NettyTlsProbe.SUN_JSSE, () -> {
                throw new IllegalStateException("work failed");
            });
        } catch (IllegalStateException expected) {
            assertThat(expected).hasMessage("work failed");
        }
        assertThat(List.of(java.security.Security.getProviders())).containsExactlyElementsOf(before);
        // No such provider: the work runs, nothing changes.
        NettyTlsProbe.withoutProvider("NoSuchProvider", () -> seen.add("ran"));
        assertThat(seen).endsWith("ran");
        assertThat(List.of(java.security.Security.getProviders())).containsExactlyElementsOf(before);
    }

    @Test
    @DisplayName("while NettyTlsProbe's provider is first, any other thread asking for an SSLContext gets the JDK's")
    void theProbesProviderServesOnlyItsThread() throws Exception {
        Thread other = new Thread(() -> {});
        java.security.Security.insertProviderAt(new NettyTlsProbe.OneProbe(other), 1);
        try {
            assertThat(java.security.Security.getProviders()[0].getName()).isEqualTo(NettyTlsProbe.NAME);
            javax.net.ssl.SSLContext tls = javax.net.ssl.SSLContext.getInstance("TLS");
            assertThat(tls.getProvider().getName()).isEqualTo("SunJSSE");
        } finally {
            java.security.Security.removeProvider(NettyTlsProbe.NAME);
        }
        java.security.Provider mine = new NettyTlsProbe.OneProbe(Thread.currentThread());
        javax.net.ssl.SSLContext stand = javax.net.ssl.SSLContext.getInstance("TLS", mine);
        stand.init(null, null, null);
        assertThat(stand.getSupportedSSLParameters().getProtocols()).contains("TLSv1.3");
        assertThat(stand.getDefaultSSLParameters().getProtocols()).contains("TLSv1.3");
    }
}
