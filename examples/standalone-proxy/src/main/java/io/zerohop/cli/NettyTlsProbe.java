package io.zerohop.cli;

import java.security.KeyManagementException;
import java.security.NoSuchAlgorithmException;
import java.security.Provider;
import java.security.SecureRandom;
import java.security.Security;
import java.util.List;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContextSpi;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLServerSocketFactory;
import javax.net.ssl.SSLSessionContext;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManager;

/**
 * Answers Netty's start-up question "does the JDK's TLS have TLS 1.3?" without starting the JDK's TLS.
 *
 * <p>Whenever netty-tcnative loads, {@code OpenSsl.<clinit>} asks {@code SslProvider.isTlsv13Supported(JDK)}
 * (netty-handler 4.2.18, OpenSsl.java:234), whose {@code SslUtils.<clinit>} builds and initialises a JDK
 * {@code SSLContext} twice: 171 {@code sun.security.ssl} classes and the JSSE tables, ~540 classes in all,
 * which stay loaded, archived and resident for the proxy's life though it never speaks TLS through the
 * JDK (benchmarks/results/diet-59b6ebc.md, idle-d8652c1.md). Netty has no switch for it.
 *
 * <p>{@link #answer} initialises {@code SslUtils} on the calling thread with a provider placed first
 * for that moment only, whose {@code SSLContext} "TLS" says TLS 1.3 is supported and on by default,
 * which is true of every JDK zerohop runs on (17+). Any other thread that asks for an {@code SSLContext}
 * meanwhile gets {@link NoSuchAlgorithmException} from this provider, on which the JCA tries the next
 * one (SunJSSE): it never sees the stand-in. The provider is removed before {@link #answer} returns.
 * Only the standalone proxy does this (its main, before it chooses the TLS provider); a library user's
 * JVM is left alone.
 */
final class NettyTlsProbe {
    static final String NAME = "ZerohopNettyTlsProbe";
    /** {@code -Dzerohop.nettyTlsProbe=jdk}: leave Netty's probes of the JDK (this class's two) as Netty does them (an escape hatch, and the tests' control). */
    static final String PROPERTY = "zerohop.nettyTlsProbe";

    private NettyTlsProbe() {}

    /**
     * Initialises Netty's {@code io.netty.handler.ssl.SslUtils} as described above; does nothing when it
     * is already initialised, with {@code -Dzerohop.nettyTlsProbe=jdk}, or when anything goes wrong (Netty then
     * probes the JDK as it always did).
     */
    static void answer() {
        if ("jdk".equals(System.getProperty(PROPERTY))) {
            return;
        }
        Provider p = new OneProbe(Thread.currentThread());
        try {
            if (Security.insertProviderAt(p, 1) != 1) {
                return;
            }
            Class.forName("io.netty.handler.ssl.SslUtils", true, NettyTlsProbe.class.getClassLoader());
        } catch (ClassNotFoundException | RuntimeException | LinkageError e) {
            // Netty renamed or moved it: its own probe runs later, as without this class.
        } finally {
            Security.removeProvider(NAME);
        }
    }

    /** Netty's class whose initialiser starts the JDK's TLS at the first OpenSSL context ({@link #skipTrustManagerWrapperProbe}). */
    static final String TRUST_MANAGER_WRAPPER = "io.netty.handler.ssl.OpenSslX509TrustManagerWrapper";
    static final String SUN_JSSE = "SunJSSE";

    /**
     * Initialises Netty's {@code OpenSslX509TrustManagerWrapper} while SunJSSE is out of the security provider
     * list, so that it does not start the JDK's TLS; does nothing with {@code -Dzerohop.nettyTlsProbe=jdk}, when the
     * class is already initialised, or when there is no SunJSSE. The list is restored, same objects in the same
     * order, before this returns, whatever happens.
     *
     * <p>Why: every OpenSSL context Netty builds passes its trust manager through {@code
     * OpenSslX509TrustManagerWrapper.wrapIfNeeded} (netty-handler 4.2.18, {@code ReferenceCountedOpenSslContext
     * .chooseTrustManager}), whose initialiser builds and initialises {@code SSLContext.getInstance("TLS", "SunJSSE")}
     * to find, through {@code Unsafe}, where SunJSSE keeps a trust manager, in order to wrap a plain {@code
     * X509TrustManager} as the JDK would. zerohop's trust manager is an {@code X509ExtendedTrustManager}, which is
     * never wrapped; the initialiser still loaded ~135 of the JDK's TLS classes at a node proxy's first tunnel
     * (benchmarks/results/keymanager-*.md). With SunJSSE absent, {@code getInstance} throws {@code
     * NoSuchProviderException}, which the initialiser catches (DEBUG "Unable to access wrapped TrustManager"),
     * leaving the wrapper as the identity: no change for an extended trust manager, the only kind this CLI gives
     * Netty's OpenSSL (grpc's shaded Netty, the Istio CA client's, is another class).
     *
     * <p>While SunJSSE is out no thread can get a JDK {@code SSLContext}: the caller must hold every other thread
     * of the process away from TLS until this returns ({@link Zerohop#awaitSecurityProviders}).
     */
    static void skipTrustManagerWrapperProbe() {
        if ("jdk".equals(System.getProperty(PROPERTY))) {
            return;
        }
        // What the initialiser needs besides the JDK's TLS, initialised first, so that the window without SunJSSE
        // (which other threads wait out) is the initialiser's own few steps.
        io.netty.util.internal.logging.InternalLoggerFactory.getDefaultFactory();
        io.netty.util.internal.PlatformDependent.getUnsafeUnavailabilityCause();
        withoutProvider(SUN_JSSE, () -> {
            try {
                Class.forName(TRUST_MANAGER_WRAPPER, true, NettyTlsProbe.class.getClassLoader());
            } catch (ClassNotFoundException | RuntimeException | LinkageError e) {
                // Netty renamed or moved it: it starts the JDK's TLS at the first context, as without this method.
            }
        });
    }

    /**
     * Runs {@code r} with the provider named {@code name} removed from the security provider list, then puts the
     * same provider object back at the same position; runs {@code r} as it is when there is no such provider.
     */
    static void withoutProvider(String name, Runnable r) {
        Provider[] list = Security.getProviders();
        int position = 0;
        for (int i = 0; i < list.length; i++) {
            if (list[i].getName().equals(name)) {
                position = i + 1;
            }
        }
        if (position == 0) {
            r.run();
            return;
        }
        Provider removed = list[position - 1];
        Security.removeProvider(name);
        try {
            r.run();
        } finally {
            Security.insertProviderAt(removed, position);
        }
    }

    /** The provider: one {@code SSLContext} "TLS" service, for {@code prober} only. */
    static final class OneProbe extends Provider {
        private static final long serialVersionUID = 1L;

        OneProbe(Thread prober) {
            super(NAME, "1", "answers Netty's JDK TLS 1.3 probe at start-up");
            putService(new Service(this, "SSLContext", "TLS", Stand.class.getName(), List.of(), null) {
                @Override
                public Object newInstance(Object constructorParameter) throws NoSuchAlgorithmException {
                    if (Thread.currentThread() != prober) {
                        throw new NoSuchAlgorithmException(NAME + " answers one probe only");
                    }
                    return new Stand();
                }
            });
        }
    }

    /** An {@code SSLContext} that only reports its protocols, as JDK 17's SunJSSE "TLS" context does. */
    static final class Stand extends SSLContextSpi {
        private static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};

        @Override
        protected void engineInit(KeyManager[] km, TrustManager[] tm, SecureRandom sr) throws KeyManagementException {}

        @Override
        protected SSLParameters engineGetSupportedSSLParameters() {
            return new SSLParameters(new String[0], PROTOCOLS.clone());
        }

        @Override
        protected SSLParameters engineGetDefaultSSLParameters() {
            return new SSLParameters(new String[0], PROTOCOLS.clone());
        }

        @Override
        protected SSLSocketFactory engineGetSocketFactory() {
            throw new UnsupportedOperationException(NAME);
        }

        @Override
        protected SSLServerSocketFactory engineGetServerSocketFactory() {
            throw new UnsupportedOperationException(NAME);
        }

        @Override
        protected SSLEngine engineCreateSSLEngine() {
            throw new UnsupportedOperationException(NAME);
        }

        @Override
        protected SSLEngine engineCreateSSLEngine(String host, int port) {
            throw new UnsupportedOperationException(NAME);
        }

        @Override
        protected SSLSessionContext engineGetServerSessionContext() {
            throw new UnsupportedOperationException(NAME);
        }

        @Override
        protected SSLSessionContext engineGetClientSessionContext() {
            throw new UnsupportedOperationException(NAME);
        }
    }
}
