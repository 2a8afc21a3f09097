package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Model.ArgSpec;

/**
 * What a {@code zerohop proxy} start does not load (issue 14: idle RSS; every class loaded at start
 * is ~8 KB of the class-data-sharing archive, benchmarks/results/diet-*.md), each with a control
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
        List<String> loaded = ProxyStartClasses.untilReady(dir, "default", List.of());
        assertThat(loaded).as("classes loaded until ready").contains("picocli.CommandLine")
                .noneMatch(c -> c.startsWith("java.sql.")).doesNotContain("java.time.MonthDay");
        // The control: with picocli's converters all on (nothing excluded), the same start loads them.
        List<String> all = ProxyStartClasses.untilReady(dir, "converters", List.of("-Dpicocli.converters.excludes="));
        assertThat(all).anyMatch(c -> c.startsWith("java.sql.")).contains("java.time.MonthDay");
    }
}
