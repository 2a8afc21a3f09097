package io.zerohop.cli;

import io.zerohop.identity.MeshTls;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code zerohop} command: CA tooling, policy checks, one-off tunnels, the node proxy, the demo. */
@Command(name = Zerohop.NAME, mixinStandardHelpOptions = true, version = Zerohop.VERSION, description = Zerohop.DESCRIPTION,
        subcommands = {CaCommand.class, PolicyCommand.class, ConnectCommand.class, ProxyCommand.class, DemoCommand.class,
                CommandLine.HelpCommand.class})
public final class Zerohop {
    static final String NAME = "zerohop";
    static final String VERSION = "zerohop 0.1.0";
    static final String DESCRIPTION = "Sidecarless mTLS data plane: HBONE tunnels, SPIFFE identities, Istio and Cilium policy.";

    /**
     * The subcommands that can be built alone, by the name that selects them. picocli builds the
     * model of every subcommand (options, mixins, nested commands) when the top command is built:
     * ~16 % of {@code zerohop proxy}'s start-up CPU (benchmarks/results/footprint-xmn.md) for
     * commands that are never run.
     */
    static Class<?> subcommand(String name) {
        // A switch of class literals, not a map of them built at class initialisation: a class literal loads its class
        // when it is evaluated, and the map loaded all five (ConnectCommand and DemoCommand ~18 KB of bytecode each)
        // into every proxy, which runs only ProxyCommand (benchmarks/results/classes-*.md).
        switch (name) {
            case "ca":
                return CaCommand.class;
            case "policy":
                return PolicyCommand.class;
            case "connect":
                return ConnectCommand.class;
            case "proxy":
                return ProxyCommand.class;
            case "demo":
                return DemoCommand.class;
            default:
                return null;
        }
    }

    /**
     * picocli's switch for its reflective built-in converters ({@code Class.forName} of every
     * {@code java.time} and {@code java.sql} type and of their factory methods, run for every command
     * model it builds): no zerohop option has such a type (every option is a String, Path, boolean,
     * List or Map: {@code StartFootprintTest.noOptionNeedsAnExcludedConverter}), and registering
     * them loaded ~66 JDK classes (the java.sql module's, java.time's formatters) into every proxy
     * (benchmarks/results/diet-59b6ebc.md). A value given with {@code -Dpicocli.converters.excludes} wins.
     */
    static final String CONVERTER_EXCLUDES = "java\\.sql\\..*,java\\.time\\..*";

    static {
        if (System.getProperty("picocli.converters.excludes") == null) {
            System.setProperty("picocli.converters.excludes", CONVERTER_EXCLUDES);
        }
    }

    /** {@link Zerohop} without its subcommands, so that only the one being run is added to it. */
    @Command(name = NAME, mixinStandardHelpOptions = true, version = VERSION, description = DESCRIPTION)
    static final class Top {
    }

    public static void main(String[] args) {
        LogProvider.select();
        Signals signals = null;
        if (args.length > 0 && args[0].equals("proxy")) {
            // First: from here on a SIGTERM stops the start (or drains) and exits 0, not the JVM's 143.
            signals = Signals.installEarly();
            loadInBackground();
        }
        int status = run(args);
        if (signals != null) {
            // A command that never reached the proxy (a usage error) must not have its exit held by the hook.
            signals.finished();
        }
        System.exit(status);
    }

    /**
     * Starts, on a second thread, two pieces of start-up work that every proxy needs and that do not
     * depend on its options: initialising slf4j (Micrometer's registry asks for a logger) and
     * choosing the TLS provider (loading netty-tcnative's BoringSSL and Netty's probe of the JDK's
     * TLS). Together they were ~30 % of the main thread's CPU before ready, most of it slf4j-simple's
     * date format, which {@link LogTime} has since replaced (benchmarks/results/footprint-5771f1d.md,
     * idle-*.md); the main thread builds
     * the command model meanwhile, then waits for slf4j's initialisation before it may log
     * ({@link LogProvider#awaitInitialised}: a line logged during it was replayed with slf4j's warning),
     * and parses the options and makes the identity source while the TLS provider is chosen. Before that it
     * also initialises Netty's trust-manager wrapper with SunJSSE out of the provider list (the JDK's TLS is
     * then not started at the first tunnel, {@link NettyTlsProbe#skipTrustManagerWrapperProbe}); the proxy
     * waits for that ({@link #awaitSecurityProviders}) before anything it does may ask for the JDK's TLS.
     */
    static Thread loadInBackground() {
        CountDownLatch settled = new CountDownLatch(1);
        providersSettled = settled;
        Thread t = new Thread(() -> {
            try {
                LogProvider.awaitInitialised();
                NettyTlsProbe.skipTrustManagerWrapperProbe();
            } finally {
                settled.countDown();
            }
            NettyTlsProbe.answer();
            MeshTls.defaultProvider();
        }, "zerohop-start");
        t.setDaemon(true);
        t.start();
        return t;
    }

    /** Counted down once {@link #loadInBackground}'s thread has put the security provider list back as it was. */
    private static volatile CountDownLatch providersSettled = new CountDownLatch(0);

    /**
     * Returns once the start-up thread no longer changes the security provider list: while it initialises Netty's
     * trust-manager wrapper SunJSSE is out of it ({@link NettyTlsProbe#skipTrustManagerWrapperProbe}), and a JDK
     * {@code SSLContext} asked for meanwhile (the Kubernetes client's, the Istio CA client's) would fail. At once
     * when {@link #loadInBackground} was not called. Waits at most 30 s: the thread's work is slf4j's
     * initialisation and two class initialisers.
     */
    static void awaitSecurityProviders() {
        try {
            providersSettled.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Runs without exiting, for tests. */
    public static int run(String... args) {
        return run(commandLine(args), args);
    }

    /**
     * The command model for {@code args}: when the first word names a subcommand, the top command
     * with only that subcommand (its usage, errors and suggestions are the subcommand's own, the
     * same as in the full model); otherwise (no words, an option such as {@code --help}, {@code help},
     * an unknown word) the full model, so that the top usage lists every subcommand and an unknown
     * word gets its suggestions.
     */
    static CommandLine commandLine(String... args) {
        Class<?> only = args.length > 0 && args[0] != null ? subcommand(args[0]) : null;
        if (only == null) {
            return new CommandLine(new Zerohop());
        }
        return new CommandLine(new Top()).addSubcommand(args[0], new CommandLine(only));
    }

    static int run(CommandLine cli, String... args) {
        ConfigFile.Origins origins = ConfigFile.Origins.NONE;
        if (args.length > 0 && args[0].equals("proxy")) {
            // The command model is built; from here the main thread may log (the proxy's Micrometer registry does at
            // once): it waits for loadInBackground's slf4j initialisation rather than race it (LogProvider).
            LogProvider.awaitInitialised();
            CommandLine proxy = cli.getSubcommands().get("proxy");
            try {
                ConfigFile.Expansion x = ConfigFile.load(java.util.Arrays.copyOfRange(args, 1, args.length), proxy.getCommandSpec());
                String[] all = new String[x.args().length + 1];
                all[0] = "proxy";
                System.arraycopy(x.args(), 0, all, 1, x.args().length);
                args = all;
                origins = x.origins();
                ((ProxyCommand) proxy.getCommand()).origins = origins;
            } catch (ConfigFile.ConfigException e) {
                // The file is the command line in a file: its mistakes are usage errors, and end as every usage error does.
                cli.getErr().println("zerohop proxy: " + e.getMessage());
                cli.getErr().println(helpHint(proxy));
                cli.getErr().flush();
                return 2;
            }
        }
        ConfigFile.Origins from = origins;
        // Any failure is one line a person can act on; stack traces only with ZEROHOP_DEBUG set.
        cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
            // The whole command path ("zerohop policy check: ..."), as usage errors name it.
            cmd.getErr().println(cmd.getCommandSpec().qualifiedName() + ": " + Cli.describe(e));
            int code = e instanceof Cli.RefusedException r ? r.exitCode() : 1;
            if (code == cmd.getCommandSpec().exitCodeOnInvalidInput()) {
                // A refusal with the usage exit code (an --istio-ca that is no HOST:PORT) is a usage error found late.
                cmd.getErr().println(helpHint(cmd));
            }
            if (System.getenv("ZEROHOP_DEBUG") != null) {
                e.printStackTrace(cmd.getErr());
            }
            return code;
        });
        // A usage error is its message and where to read more, not the whole usage (which scrolls the message away).
        cli.setParameterExceptionHandler((pe, given) -> {
            CommandLine cmd = pe.getCommandLine();
            // picocli checks required options before it reports unknown ones: "--trust-domian x" would read
            // "Missing required option: '--trust-domain'", hiding the typo and the suggestion that fixes it.
            CommandLine.ParameterException e = pe instanceof CommandLine.MissingParameterException && !cmd.getUnmatchedArguments().isEmpty()
                    ? new CommandLine.UnmatchedArgumentException(cmd, cmd.getUnmatchedArguments()) : pe;
            java.io.PrintWriter err = cmd.getErr();
            String msg = e.getMessage().startsWith("Error: ") ? e.getMessage().substring(7) : e.getMessage();
            if (e instanceof CommandLine.UnmatchedArgumentException u) {
                msg = unknownCommand(cmd, u.getUnmatched(), unknownOptions(u.getUnmatched(), msg));
            }
            String spiffeIdAlone = e instanceof CommandLine.MissingParameterException ? spiffeIdWithoutSource(cmd, given, from) : null;
            if (spiffeIdAlone != null) {
                msg = spiffeIdAlone;
            }
            String caAddress = e instanceof CommandLine.MissingParameterException && spiffeIdAlone == null
                    ? caAddressHint(cmd, given, System.getenv()) : null;
            err.println(cmd.getCommandSpec().qualifiedName() + ": " + (spiffeIdAlone != null ? msg : from.name(e, msg))
                    + (caAddress != null ? caAddress : ""));
            CommandLine.UnmatchedArgumentException.printSuggestions(e, err);
            if (!(e instanceof Usage.EnvironmentError)) {
                // A variable's error names the variable; the command's help, about its options, would mislead.
                err.println(helpHint(cmd));
            }
            err.flush();
            return cmd.getCommandSpec().exitCodeOnInvalidInput();
        });
        return cli.execute(args);
    }

    /**
     * {@code zerohop proxy --spiffe-id ID} with no identity source: picocli's "Missing required argument (specify one of
     * these): (--spire-socket=PATH | --ca=DIR | ...)" did not say that the option given needs one of them in particular.
     * The same sentence as ProxyCommand's check of {@code --spiffe-id} beside another source; null when {@code cmd} is
     * not the proxy or no {@code --spiffe-id} was given (on the command line or in the {@code --config} file).
     */
    private static final List<String> IDENTITY_OPTIONS = List.of("--spire-socket", "--ca", "--in-memory-ca", "--cert", "--key",
            "--trust-bundle", "--istio-ca", "--istio-ca-root", "--token-file", "--istio-ca-hostname");

    static String spiffeIdWithoutSource(CommandLine cmd, String[] given, ConfigFile.Origins from) {
        if (!cmd.getCommandSpec().name().equals("proxy")) {
            return null;
        }
        for (String a : given) {
            // Only with no identity option at all: "--spiffe-id X --spire-socket S --cert c.pem" misses --key and
            // --trust-bundle, which picocli's message names (a final new-user pass: this one replaced it).
            for (String source : IDENTITY_OPTIONS) {
                if (a.equals(source) || a.startsWith(source + "=")) {
                    return null;
                }
            }
        }
        for (String a : given) {
            if (a.equals("--spiffe-id") || a.startsWith("--spiffe-id=")) {
                return from.label("spiffe-id") + ": picks one of the SPIRE agent's SVIDs, so it needs --spire-socket=PATH (the"
                        + " agent's Workload API socket); no identity source is given";
            }
        }
        return null;
    }

    /**
     * {@code zerohop proxy} with no identity source in an environment that holds ztunnel's {@code CA_ADDRESS} (a DaemonSet
     * carried over from ztunnel's chart, which sets it with {@code XDS_ADDRESS}): the missing-argument message, then
     * that zerohop reads no such variable and which options are its counterpart, with ztunnel's default root certificate
     * and token paths (istio/ztunnel src/config.rs {@code DEFAULT_ROOT_CERT_PROVIDER}, {@code DEFAULT_TOKEN_PROVIDER}).
     * Null otherwise (helper 262: the message named the options, not that the variable was ignored).
     */
    static String caAddressHint(CommandLine cmd, String[] given, java.util.Map<String, String> env) {
        String ca = env.get("CA_ADDRESS");
        if (!cmd.getCommandSpec().name().equals("proxy") || ca == null || ca.isBlank()) {
            return null;
        }
        for (String a : given) {
            for (String source : IDENTITY_OPTIONS) {
                if (a.equals(source) || a.startsWith(source + "=")) {
                    return null;
                }
            }
        }
        // ztunnel's CA_ADDRESS is a URL (its default https://istiod.istio-system.svc:15012); --istio-ca takes HOST:PORT.
        String hostPort = ca.trim().replaceFirst("^[A-Za-z][A-Za-z0-9+.-]*://", "").replaceFirst("/+$", "");
        return " ($CA_ADDRESS is ztunnel's variable, which zerohop does not read, nor XDS_ADDRESS: for istiod's CA give --istio-ca "
                + hostPort + " --istio-ca-root /var/run/secrets/istio/root-cert.pem --token-file /var/run/secrets/tokens/istio-token,"
                + " ztunnel's default files; deploy/node-proxy-istio)";
    }

    /**
     * The last line of every usage error (exit 2), whichever path found it: picocli's parser, a value checked in
     * {@code call()}, the {@code --config} file. One wording, so that a script or a person can rely on it. Not after an
     * error in an environment variable ({@link Usage.EnvironmentError}), whose message names the variable.
     */
    static String helpHint(CommandLine cmd) {
        return "Run '" + cmd.getCommandSpec().qualifiedName() + " --help' for usage.";
    }

    /**
     * picocli's "Unmatched arguments from index 0: 'polcy', 'check'" when the first unmatched word stands where
     * {@code cmd} expects a command (new-user pass: "zerohop bogus" read as a parser error, with no list of
     * the commands): "unknown command 'polcy' (commands: ca, policy, ...)". Otherwise {@code picocli}'s.
     */
    static String unknownCommand(CommandLine cmd, java.util.List<String> unmatched, String picocli) {
        if (unmatched.isEmpty() || unmatched.get(0).startsWith("-") || cmd.getSubcommands().isEmpty()
                || !cmd.getCommandSpec().positionalParameters().isEmpty()) {
            return picocli;
        }
        return "unknown command '" + unmatched.get(0) + "' (commands: " + String.join(", ", cmd.getSubcommands().keySet()) + ")";
    }

    /**
     * picocli's "Unknown options: '--polices', 'polB'" names the mistyped option's value as a second unknown
     * option (new-user pass: "is polB an option?"). When every unmatched word is an option or the value right
     * after one, the message names the options and calls the others their values; otherwise {@code picocli}'s.
     */
    static String unknownOptions(java.util.List<String> unmatched, String picocli) {
        if (unmatched.isEmpty() || !unmatched.get(0).startsWith("-")) {
            return picocli;
        }
        java.util.List<String> named = new java.util.ArrayList<>();
        for (int i = 0; i < unmatched.size(); i++) {
            String option = unmatched.get(i);
            if (!option.startsWith("-")) {
                return picocli;
            }
            if (i + 1 < unmatched.size() && !unmatched.get(i + 1).startsWith("-")) {
                named.add("'" + option + "' (its value '" + unmatched.get(++i) + "')");
            } else {
                named.add("'" + option + "'");
            }
        }
        return (named.size() == 1 ? "Unknown option: " : "Unknown options: ") + String.join(", ", named);
    }
}
