package io.zerohop.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code zerohop} command: CA tooling, policy checks, one-off tunnels, the node proxy, the demo. */
@Command(name = "zerohop", mixinStandardHelpOptions = true, version = "zerohop 0.1.0",
        description = "Sidecarless mTLS data plane: HBONE tunnels, SPIFFE identities, Istio and Cilium policy.",
        subcommands = {CaCommand.class, PolicyCommand.class, ConnectCommand.class, ProxyCommand.class, DemoCommand.class,
                CommandLine.HelpCommand.class})
public final class Zerohop {

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs without exiting, for tests. */
    public static int run(String... args) {
        CommandLine cli = new CommandLine(new Zerohop());
        // Any failure is one line a person can act on; stack traces only with ZEROHOP_DEBUG set.
        cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
            // The whole command path ("zerohop policy check: ..."), as usage errors name it.
            cmd.getErr().println(cmd.getCommandSpec().qualifiedName() + ": " + Cli.describe(e));
            if (System.getenv("ZEROHOP_DEBUG") != null) {
                e.printStackTrace(cmd.getErr());
            }
            return e instanceof Cli.RefusedException r ? r.exitCode() : 1;
        });
        // A usage error is its message and where to read more, not the whole usage (which scrolls the message away).
        cli.setParameterExceptionHandler((e, given) -> {
            CommandLine cmd = e.getCommandLine();
            java.io.PrintWriter err = cmd.getErr();
            String msg = e.getMessage().startsWith("Error: ") ? e.getMessage().substring(7) : e.getMessage();
            err.println(cmd.getCommandSpec().qualifiedName() + ": " + msg);
            CommandLine.UnmatchedArgumentException.printSuggestions(e, err);
            err.println("Run '" + cmd.getCommandSpec().qualifiedName() + " --help' for usage.");
            err.flush();
            return cmd.getCommandSpec().exitCodeOnInvalidInput();
        });
        if (args.length > 0 && args[0].equals("proxy")) {
            CommandLine proxy = cli.getSubcommands().get("proxy");
            try {
                String[] rest = ConfigFile.expand(java.util.Arrays.copyOfRange(args, 1, args.length), proxy.getCommandSpec());
                String[] all = new String[rest.length + 1];
                all[0] = "proxy";
                System.arraycopy(rest, 0, all, 1, rest.length);
                args = all;
            } catch (ConfigFile.ConfigException e) {
                cli.getErr().println("zerohop proxy: " + e.getMessage());
                return 2;
            }
        }
        return cli.execute(args);
    }
}
