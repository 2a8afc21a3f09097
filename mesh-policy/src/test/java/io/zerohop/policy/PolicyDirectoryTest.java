package io.zerohop.policy;

import static io.zerohop.policy.ConformanceTest.ap;
import static io.zerohop.policy.R.r;
import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.policy.internal.CompiledPolicies;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a policy directory loads and what it names as not loaded. kubectl apply -f DIR reads
 * .json, .yaml and .yml compared case-sensitively and skips everything else silently
 * (kubernetes staging/src/k8s.io/cli-runtime/pkg/resource/visitor.go ignoreFile, builder.go
 * FileExtensions); zerohop goes further so that a typo never drops a policy silently.
 */
class PolicyDirectoryTest {

    private static final String DENY_ALL = ap("prod", "deny-all", "{action: DENY, rules: [{}]}");
    private static final String DENY_LEGACY = ap("prod", "deny-legacy",
            "{action: DENY, rules: [{from: [{source: {principals: [cluster.local/ns/legacy/sa/old]}}]}]}");

    /**
     * A library-user pass: an empty (or wrongly mounted) directory loaded nothing and said nothing, and the engine allows
     * every authenticated peer. A first load says so; a directory with a file in it does not get this warning.
     */
    @Test
    @DisplayName("a first load of a directory with no policy file in it warns that every peer is allowed")
    void anEmptyDirectoryIsWarnedAtItsFirstLoad(@TempDir Path dir) throws Exception {
        PolicySet empty = PolicyLoader.fromDirectory(dir);
        assertThat(empty.size()).isZero();
        assertThat(empty.warnings()).containsExactly(dir + ": " + PolicyLoader.NO_POLICY_LOADED + ": it holds no *.yaml, *.yml or"
                + " *.json file; every authenticated peer is allowed until one holds a policy");
        Files.writeString(dir.resolve("p.yaml"), ap("prod", "p", "{action: DENY, rules: [{}]}"));
        assertThat(PolicyLoader.fromDirectory(dir).warnings()).noneMatch(w -> w.contains(PolicyLoader.NO_POLICY_LOADED));
    }

    @Test
    @DisplayName("kubectl's extensions (cli-runtime visitor.go ignoreFile) load; a capitalised one loads too, with a warning")
    void aCapitalisedExtensionIsLoadedWithAWarning(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("deny.YAML"), DENY_ALL);
        Files.writeString(dir.resolve("b.yml"), DENY_LEGACY.replace("deny-legacy", "b"));
        Files.writeString(dir.resolve("c.Json"), "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"c\"}}");
        PolicySet set = PolicyLoader.fromDirectory(dir);
        assertThat(set.files()).extracting(p -> p.getFileName().toString()).containsExactly("b.yml", "c.Json", "deny.YAML");
        assertThat(set.policies()).extracting(PolicyRef::name).containsExactlyInAnyOrder("deny-all", "b");
        assertThat(PolicyEngine.builder().policies(set).build().evaluate(r().build()).allowed())
                .as("the DENY in deny.YAML is enforced").isFalse();
        assertThat(set.warnings()).contains(
                dir.resolve("deny.YAML") + ": loaded, but kubectl apply -f " + dir
                        + " would skip it (its extension match is case-sensitive); rename it to deny.yaml",
                dir.resolve("c.Json") + ": loaded, but kubectl apply -f " + dir
                        + " would skip it (its extension match is case-sensitive); rename it to c.json");
        assertThat(set.warnings()).noneMatch(w -> w.startsWith(dir.resolve("b.yml").toString()));
    }

    @Test
    void everyNonHiddenEntryNotLoadedIsNamedOnce(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("a.yaml"), DENY_LEGACY);
        Files.writeString(dir.resolve("deny.yaml.bak"), DENY_ALL);
        Files.writeString(dir.resolve("README"), "notes");
        Files.writeString(dir.resolve(".deny.yaml.swp"), "swap");
        Files.createDirectory(dir.resolve(".git"));
        Files.createDirectory(dir.resolve("more"));
        Files.writeString(dir.resolve("more/deny.yaml"), DENY_ALL);
        Files.createDirectory(dir.resolve("..2026_11_30_data"));
        PolicySet set = PolicyLoader.fromDirectory(dir);
        assertThat(set.policies()).extracting(PolicyRef::name).containsExactly("deny-legacy");
        assertThat(set.warnings()).containsExactly(
                dir.resolve("README") + ": skipped: not a policy file (only *.yaml, *.yml and *.json are loaded)",
                dir.resolve("deny.yaml.bak") + ": skipped: not a policy file (only *.yaml, *.yml and *.json are loaded)",
                dir.resolve("more") + ": directory skipped: only files directly in " + dir + " are loaded (not recursive)");
    }

    /**
     * kubectl apply -f DIR filters entries by extension only (cli-runtime visitor.go ignoreFile), so it
     * applies a hidden {@code .deny.yaml}; a new-user pass found zerohop skipping it silently, which
     * dropped its DENY (legacy/sa/old allowed).
     */
    @Test
    void aHiddenPolicyFileIsLoadedAsKubectlAppliesIt(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve(".deny-legacy.yaml"), DENY_LEGACY);
        Files.createDirectory(dir.resolve("..2026_11_30_data"));
        PolicySet set = PolicyLoader.fromDirectory(dir);
        assertThat(set.policies()).extracting(PolicyRef::name).containsExactly("deny-legacy");
        assertThat(set.warnings()).isEmpty();
        PolicyEngine engine = PolicyEngine.builder().policies(set).build();
        assertThat(engine.evaluate(r().principal("spiffe://cluster.local/ns/legacy/sa/old").build()).allowed()).isFalse();
    }

    /**
     * kubectl apply -f DIR opens every entry with a policy extension (cli-runtime visitor.go
     * ExpandPathsToFileVisitors: filepath.Walk, then a FileVisitor per file) and fails on a symbolic link
     * to nothing. A new-user pass found it skipped with a warning: the DENY it should hold was dropped and
     * legacy/sa/old allowed.
     */
    @Test
    void aBrokenSymbolicLinkFailsTheLoadNamingIt(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("a.yaml"), DENY_ALL.replace("deny-all", "a").replace("rules: [{}]",
                "rules: [{from: [{source: {principals: [cluster.local/ns/other/sa/x]}}]}]"));
        Files.createSymbolicLink(dir.resolve("deny-legacy.yaml"), dir.resolve("..data/deny-legacy.yaml"));
        PolicyLoadException e = org.assertj.core.api.Assertions.catchThrowableOfType(PolicyLoadException.class,
                () -> PolicyLoader.fromDirectory(dir));
        assertThat(e).as("a broken link is an error, not a skipped file").isNotNull();
        assertThat(e.file()).isEqualTo(dir.resolve("deny-legacy.yaml").toString());
        assertThat(e.getMessage()).contains("cannot read: a symbolic link to nothing (no such file)");
        // Once the link resolves, its DENY is enforced.
        Files.createDirectory(dir.resolve("..data"));
        Files.writeString(dir.resolve("..data/deny-legacy.yaml"), DENY_LEGACY);
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromDirectory(dir)).build();
        assertThat(engine.evaluate(r().principal("spiffe://cluster.local/ns/legacy/sa/old").build()).allowed()).isFalse();
    }

    @Test
    void aReloadThatDropsAFileOrEveryPolicyIsAWarningNamingTheFiles() throws Exception {
        Path dir = Path.of("pol");
        PolicySet two = set("a.yaml", "b.yaml");
        PolicySet oneOfThem = set("a.yaml");
        PolicySet none = new PolicySet(CompiledPolicies.EMPTY, "pol", List.of());
        assertThat(PolicyEngine.lossWarning(two, two, dir)).isNull();
        assertThat(PolicyEngine.lossWarning(oneOfThem, two, dir)).isNull();
        assertThat(PolicyEngine.lossWarning(PolicySet.empty(), none, dir)).isNull();
        assertThat(PolicyEngine.lossWarning(two, oneOfThem, dir))
                .isEqualTo("reloaded 1 policy from pol (was 2); no longer loaded: b.yaml (deleted or renamed: its policies dropped); "
                        + "no longer in force: AuthorizationPolicy prod/b (DENY)");
        assertThat(PolicyEngine.lossWarning(two, none, dir))
                .isEqualTo("reloaded 0 policies from pol (was 2); no longer loaded: a.yaml (deleted or renamed: its policies dropped),"
                        + " b.yaml (deleted or renamed: its policies dropped); "
                        + "no longer in force: AuthorizationPolicy prod/a (DENY), AuthorizationPolicy prod/b (DENY); no policy is in force now");
    }

    /** newuser3: emptying deny-batch.yaml beside article.yaml (the file stays, its DENY goes) was an INFO line. */
    @Test
    void aReloadThatDropsAPolicyFromAFileStillLoadedIsAWarningNamingIt() throws Exception {
        Path dir = Files.createTempDirectory("zerohop-loss");
        Files.writeString(dir.resolve("article.yaml"), ap("prod", "allow-frontend", "{rules: [{}]}"));
        Files.writeString(dir.resolve("deny-batch.yaml"), ap("prod", "deny-batch", "{action: DENY, rules: [{}]}")
                + ap("prod", "audit-all", "{action: AUDIT, rules: [{}]}"));
        PolicySet before = PolicyLoader.fromDirectory(dir);
        // An emptied file is refused (EmptyPolicyFileTest); its DENY deleted from it drops the DENY.
        Files.writeString(dir.resolve("deny-batch.yaml"), ap("prod", "audit-all", "{action: AUDIT, rules: [{}]}"));
        PolicySet emptied = PolicyLoader.fromDirectory(dir);
        assertThat(PolicyEngine.lossWarning(before, emptied, dir)).isEqualTo("reloaded 2 policies from " + dir
                + " (was 3); no longer in force: AuthorizationPolicy prod/deny-batch (DENY)");
        Files.writeString(dir.resolve("deny-batch.yaml"), ap("prod", "deny-batch", "{action: ALLOW, rules: [{}]}"));
        assertThat(PolicyEngine.lossWarning(before, PolicyLoader.fromDirectory(dir), dir))
                .as("a DENY turned into an ALLOW under the same name").contains("no longer in force: AuthorizationPolicy prod/deny-batch (DENY)");
        assertThat(PolicyEngine.lossWarning(before, before, dir)).isNull();
        // New-user pass: the same DENY annotated istio.io/dry-run: "true" (still loaded, no longer enforced) was an
        // INFO "reloaded 3 policies", as widening as an emptied file.
        String dryRunDeny = ap("prod", "deny-batch", "{action: DENY, rules: [{}]}").replace("namespace: prod}",
                "namespace: prod, annotations: {istio.io/dry-run: \"true\"}}");
        Files.writeString(dir.resolve("deny-batch.yaml"), dryRunDeny + ap("prod", "audit-all", "{action: AUDIT, rules: [{}]}"));
        PolicySet dryRun = PolicyLoader.fromDirectory(dir);
        assertThat(dryRun.size()).isEqualTo(3);
        assertThat(PolicyEngine.lossWarning(before, dryRun, dir)).isEqualTo("reloaded 3 policies from " + dir
                + " (was 3); no longer in force: AuthorizationPolicy prod/deny-batch (DENY, now istio.io/dry-run: not enforced)");
        assertThat(PolicyEngine.lossWarning(dryRun, dryRun, dir)).as("a dry-run policy stays dry-run").isNull();
        assertThat(PolicyEngine.lossWarning(dryRun, before, dir)).as("enforcing it again widens nothing").isNull();
    }

    /** newuser3: a file the proxy may not read said only its path; a directory moved away said "not a directory". */
    @Test
    void unreadableFilesAndMissingDirectoriesSayWhy() throws Exception {
        Path dir = Files.createTempDirectory("zerohop-perm");
        assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> PolicyLoader.fromDirectory(dir.resolve("gone"))))
                .hasMessageContaining("no such directory");
        Path f = Files.writeString(dir.resolve("deny.yaml"), ap("prod", "deny", "{action: DENY, rules: [{}]}"));
        Files.setPosixFilePermissions(f, java.util.Set.of());
        org.junit.jupiter.api.Assumptions.assumeFalse(Files.isReadable(f), "running with CAP_DAC_OVERRIDE (root): every file is readable");
        assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> PolicyLoader.fromDirectory(dir)))
                .hasMessageContaining("cannot read: permission denied");
    }

    private static PolicySet set(String... names) throws PolicyLoadException {
        StringBuilder yaml = new StringBuilder();
        List<Path> files = new ArrayList<>();
        for (String n : names) {
            yaml.append(ap("prod", n.replace(".yaml", ""), "{action: DENY, rules: [{}]}"));
            files.add(Path.of("pol", n));
        }
        PolicySet s = PolicyLoader.fromString("x.yaml", yaml.toString());
        return new PolicySet(s.compiled(), "pol", files);
    }

    @Test
    @Execution(ExecutionMode.CONCURRENT)
    @DisplayName("live: renaming seed.yaml to seed.YAML keeps its DENY; to seed.yaml.bak warns naming it and still reloads")
    void liveReloadThroughTheWatcher(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("seed.yaml"), DENY_ALL);
        Heard heard = new Heard();
        BlockingQueue<PolicySet> reloaded = heard.reloaded;
        BlockingQueue<String> lost = heard.lost;
        PolicyEngine e = PolicyEngine.builder().pollInterval(Duration.ofMillis(100)).reloadListener(heard).build();
        AccessRequest caller = r().build();
        try (AutoCloseable watcher = e.watch(dir)) {
            assertThat(reloaded.poll(20, TimeUnit.SECONDS).size()).isEqualTo(1);
            assertThat(e.evaluate(caller).allowed()).isFalse();

            Files.move(dir.resolve("seed.yaml"), dir.resolve("seed.YAML"), StandardCopyOption.ATOMIC_MOVE);
            PolicySet next = reloaded.poll(20, TimeUnit.SECONDS);
            assertThat(next).isNotNull();
            assertThat(next.size()).isEqualTo(1);
            assertThat(e.evaluate(caller).allowed()).as("a capitalised extension never widens access").isFalse();
            assertThat(lost.poll(1, TimeUnit.SECONDS))
                    .isEqualTo("reloaded 1 policy from " + dir + " (was 1); no longer loaded: seed.yaml (deleted or renamed: its policies dropped);"
                            + " newly loaded: seed.YAML");

            Files.move(dir.resolve("seed.YAML"), dir.resolve("seed.yaml.bak"), StandardCopyOption.ATOMIC_MOVE);
            assertThat(lost.poll(20, TimeUnit.SECONDS)).isEqualTo("reloaded 0 policies from " + dir
                    + " (was 1); no longer loaded: seed.YAML (deleted or renamed: its policies dropped); no longer in force: AuthorizationPolicy prod/deny-all (DENY); "
                    + "no policy is in force now");
            PolicySet empty = reloaded.poll(20, TimeUnit.SECONDS);
            assertThat(empty.size()).isZero();
            assertThat(empty.warnings()).containsExactly(dir.resolve("seed.yaml.bak")
                    + ": skipped: not a policy file (only *.yaml, *.yml and *.json are loaded)");
            assertThat(e.evaluate(caller).allowed()).isTrue();
        }
    }

    /**
     * {@code watch} takes one policy file too ({@code zerohop proxy --policies FILE}, whose --help says
     * "hot reloaded"). A new-user pass found such a file read once: an edit adding a DENY was never enforced.
     * Editors replace a file by renaming (seen by its directory only); a failed reload keeps the set in force.
     */
    @Test
    @Execution(ExecutionMode.CONCURRENT)
    void aWatchedFileIsReloadedWhenItChanges(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("policy.yaml");
        Files.writeString(file, DENY_LEGACY);
        Files.writeString(dir.resolve("other.yaml"), DENY_ALL);   // a neighbour: never loaded, never a reason to reload
        BlockingQueue<PolicySet> reloaded = new LinkedBlockingQueue<>();
        BlockingQueue<String> failed = new LinkedBlockingQueue<>();
        PolicyEngine e = PolicyEngine.builder().pollInterval(Duration.ofMillis(100)).reloadListener(new ReloadListener() {
            @Override
            public void reloaded(PolicySet policies) {
                reloaded.add(policies);
            }

            @Override
            public void failed(PolicyLoadException error) {
                failed.add(error.getMessage());
            }
        }).build();
        AccessRequest legacy = r().principal("spiffe://cluster.local/ns/legacy/sa/old").build();
        AccessRequest frontend = r().build();
        try (AutoCloseable watcher = e.watch(file)) {
            assertThat(reloaded.poll(20, TimeUnit.SECONDS).policies()).extracting(PolicyRef::name).containsExactly("deny-legacy");
            assertThat(e.evaluate(legacy).allowed()).isFalse();
            assertThat(e.evaluate(frontend).allowed()).isTrue();

            // A neighbour that keeps changing (the proxy's own log, run from this directory) is no reason
            // to reload: a first version reloaded on every log line, each reload logging a line.
            for (int i = 0; i < 5; i++) {
                Files.writeString(dir.resolve("proxy.log"), "line " + i + "\n", java.nio.file.StandardOpenOption.CREATE,
                        java.nio.file.StandardOpenOption.APPEND);
            }
            assertThat(reloaded.poll(2, TimeUnit.SECONDS)).as("a neighbour's change reloads nothing").isNull();

            Path tmp = dir.resolve(".policy.yaml.swp");
            Files.writeString(tmp, DENY_ALL);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            PolicySet next = reloaded.poll(20, TimeUnit.SECONDS);
            assertThat(next).as("the edited file is reloaded").isNotNull();
            assertThat(next.policies()).extracting(PolicyRef::name).containsExactly("deny-all");
            assertThat(e.evaluate(frontend).allowed()).isFalse();

            Files.writeString(file, "garbage: [");
            assertThat(failed.poll(20, TimeUnit.SECONDS)).contains(file.toString());
            assertThat(e.evaluate(frontend).allowed()).as("a failed reload keeps the set in force").isFalse();
        }
    }

    /**
     * A directory given through a symbolic link that a deployment swaps to a new version ({@code ln -sfn v2 policies},
     * git-sync's {@code --link}, the Kubernetes ConfigMap mount's {@code ..data}) is watched at the version it named
     * when the watch began, so the swap raises no event and only the fingerprint poll sees it. An operator's break-it
     * pass (helper 380): a new version whose files have the names, sizes and modification times of the old ones
     * ({@code tar x}, {@code rsync -a}, {@code cp -p} keep them; a one-word edit such as a principal's
     * {@code frontend} for {@code old-app1} keeps the size) was never loaded, and the DENY it added never enforced. Istio's
     * own file watcher decides on the content (pkg/filewatcher/worker.go {@code getHashSum}); the fingerprint holds each
     * file's real path, file key and status-change time, which a swap or any write changes (an mtime can be set, a ctime
     * cannot). In single-file mode too ({@code --policies policies/policy.yaml} through the swapped link).
     */
    @Test
    @Execution(ExecutionMode.CONCURRENT)
    void aSymlinkSwappedToAVersionOfTheSameSizesAndTimesIsReloaded(@TempDir Path dir) throws Exception {
        String old = ap("prod", "deny-one", "{action: DENY, rules: [{from: [{source: {principals: [cluster.local/ns/prod/sa/old-app1]}}]}]}");
        String now = ap("prod", "deny-one", "{action: DENY, rules: [{from: [{source: {principals: [cluster.local/ns/prod/sa/frontend]}}]}]}");
        assertThat(now.length()).isEqualTo(old.length());
        AccessRequest frontend = r().build();
        for (boolean single : new boolean[] {false, true}) {
            Path home = Files.createDirectory(dir.resolve(single ? "single" : "directory"));
            Path v1 = Files.createDirectory(home.resolve("v1"));
            Path v2 = Files.createDirectory(home.resolve("v2"));
            Files.writeString(v1.resolve("policy.yaml"), old);
            Files.writeString(v2.resolve("policy.yaml"), now);
            Files.setLastModifiedTime(v2.resolve("policy.yaml"), Files.getLastModifiedTime(v1.resolve("policy.yaml")));
            Path link = Files.createSymbolicLink(home.resolve("policies"), v1.getFileName());
            Heard heard = new Heard();
            PolicyEngine e = PolicyEngine.builder().pollInterval(Duration.ofMillis(100)).reloadListener(heard).build();
            try (AutoCloseable watcher = e.watch(single ? link.resolve("policy.yaml") : link)) {
                assertThat(heard.reloaded.poll(20, TimeUnit.SECONDS)).isNotNull();
                assertThat(e.evaluate(frontend).allowed()).isTrue();

                // As ln -sfn does it, atomically: a new link renamed over the old.
                Path next = Files.createSymbolicLink(home.resolve(".policies.tmp"), v2.getFileName());
                Files.move(next, link, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                assertThat(heard.reloaded.poll(20, TimeUnit.SECONDS)).as("the swapped-in version is loaded (%s)",
                        single ? "single file" : "directory").isNotNull();
                assertThat(e.evaluate(frontend).allowed()).as("its DENY is in force").isFalse();
            }
        }
    }

    /**
     * The same swap done by renaming directories ({@code mv policies policies.old && mv policies.new policies}): the
     * watch stays on the directory it was given, now {@code policies.old}, and the new one's files kept the old names,
     * sizes and times; never loaded until the fingerprint held each file's file key (helper 380).
     */
    @Test
    @Execution(ExecutionMode.CONCURRENT)
    void aDirectoryRenamedOverTheWatchedOneIsReloaded(@TempDir Path dir) throws Exception {
        String old = ap("prod", "deny-one", "{action: DENY, rules: [{from: [{source: {principals: [cluster.local/ns/prod/sa/old-app1]}}]}]}");
        String now = ap("prod", "deny-one", "{action: DENY, rules: [{from: [{source: {principals: [cluster.local/ns/prod/sa/frontend]}}]}]}");
        Path policies = Files.createDirectory(dir.resolve("policies"));
        Path fresh = Files.createDirectory(dir.resolve("policies.new"));
        Files.writeString(policies.resolve("policy.yaml"), old);
        Files.writeString(fresh.resolve("policy.yaml"), now);
        Files.setLastModifiedTime(fresh.resolve("policy.yaml"), Files.getLastModifiedTime(policies.resolve("policy.yaml")));
        Heard heard = new Heard();
        PolicyEngine e = PolicyEngine.builder().pollInterval(Duration.ofMillis(100)).reloadListener(heard).build();
        AccessRequest frontend = r().build();
        try (AutoCloseable watcher = e.watch(policies)) {
            assertThat(heard.reloaded.poll(20, TimeUnit.SECONDS)).isNotNull();
            assertThat(e.evaluate(frontend).allowed()).isTrue();

            Files.move(policies, dir.resolve("policies.old"), StandardCopyOption.ATOMIC_MOVE);
            Files.move(fresh, policies, StandardCopyOption.ATOMIC_MOVE);
            assertThat(heard.reloaded.poll(20, TimeUnit.SECONDS)).as("the renamed-in directory is loaded").isNotNull();
            assertThat(e.evaluate(frontend).allowed()).as("its DENY is in force").isFalse();

            // The watch moved with the name: an edit there is reloaded too.
            Files.writeString(policies.resolve("policy.yaml"), old);
            assertThat(heard.reloaded.poll(20, TimeUnit.SECONDS)).isNotNull();
            assertThat(e.evaluate(frontend).allowed()).isTrue();
        }
    }

    /**
     * A deleted policy file drops its policies once it stayed absent for the watcher's wait (2 s more than a change's
     * 250 ms), whether it was watched alone ({@code --policies file.yaml}, which kept the old set: its reload failed
     * with "no such file") or as part of a directory; both log a WARN naming the file.
     */
    @Test
    @Execution(ExecutionMode.CONCURRENT)
    void aDeletedFileDropsItsPoliciesInSingleFileAndDirectoryModeAlike(@TempDir Path dir) throws Exception {
        for (boolean single : new boolean[] {true, false}) {
            Path home = Files.createDirectory(dir.resolve(single ? "single" : "directory"));
            Path file = home.resolve("deny-all.yaml");
            Files.writeString(file, DENY_ALL);
            Heard heard = new Heard();
            BlockingQueue<PolicySet> reloaded = heard.reloaded;
            BlockingQueue<String> lost = heard.lost;
            BlockingQueue<String> failed = heard.failed;
            PolicyEngine e = PolicyEngine.builder().pollInterval(Duration.ofMillis(100)).reloadListener(heard).build();
            AccessRequest frontend = r().build();
            Path watched = single ? file : home;
            try (AutoCloseable watcher = e.watch(watched)) {
                assertThat(reloaded.poll(20, TimeUnit.SECONDS).size()).isEqualTo(1);
                assertThat(e.evaluate(frontend).allowed()).isFalse();
                Files.delete(file);
                assertThat(lost.poll(20, TimeUnit.SECONDS)).as(single ? "single-file mode" : "directory mode")
                        .isEqualTo("reloaded 0 policies from " + watched + " (was 1); no longer loaded: deny-all.yaml (deleted or renamed:"
                                + " its policies dropped); no longer in force: AuthorizationPolicy prod/deny-all (DENY); no policy is"
                                + " in force now");
                assertThat(reloaded.poll(20, TimeUnit.SECONDS).size()).isZero();
                assertThat(e.evaluate(frontend).allowed()).isTrue();
                assertThat(failed).isEmpty();
            }
        }
    }

    /**
     * A policy file with no object (empty, only {@code ---}, only comments) is a load error naming the file, as
     * {@code kubectl apply -f FILE} refuses it ("error: no objects passed to apply", k8s.io/kubectl pkg/cmd/apply
     * apply.go). It loaded as zero policies (a new-user pass): {@code policy check} said "ALLOW by default", and a watched
     * file truncated in place ({@code : > pol/istio.yaml}, a half-written file) dropped its DENY until the rewrite.
     */
    @Test
    void aFileWithNoObjectIsALoadErrorNamingIt(@TempDir Path dir) throws Exception {
        for (String text : new String[] {"", "---\n", "# only a comment\n---\n", "\n\n"}) {
            Path file = dir.resolve("empty.yaml");
            Files.writeString(file, text);
            PolicyLoadException e = org.assertj.core.api.Assertions.catchThrowableOfType(PolicyLoadException.class,
                    () -> PolicyLoader.fromFile(file));
            assertThat(e).as("%s", text).isNotNull();
            assertThat(e.file()).isEqualTo(file.toString());
            assertThat(e.getMessage()).startsWith(file + ": no object in it").contains("no objects passed to apply");
            Files.writeString(dir.resolve("deny-all.yaml"), DENY_ALL);
            assertThat(org.assertj.core.api.Assertions.catchThrowableOfType(PolicyLoadException.class,
                    () -> PolicyLoader.fromDirectory(dir)).file()).as("in a directory too").isEqualTo(file.toString());
            Files.delete(file);
            assertThat(PolicyLoader.fromDirectory(dir).size()).as("deleted, it is no error").isEqualTo(1);
        }
        // What still loads: an object that is no policy (skipped with a warning) and an empty List are objects.
        Files.writeString(dir.resolve("cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n");
        Files.writeString(dir.resolve("list.yaml"), "apiVersion: v1\nkind: List\nitems: []\n");
        assertThat(PolicyLoader.fromDirectory(dir).size()).isEqualTo(1);
    }

    /**
     * A watched directory whose policy file is truncated to empty keeps the set in force: the reload fails (ERROR,
     * {@link ReloadListener#failed} naming the file) once the file stayed empty for the watcher's wait, and the DENY
     * still denies; writing the policy back reloads it; deleting the file drops it (a removal, not an error).
     */
    @Test
    @Execution(ExecutionMode.CONCURRENT)
    void aWatchedFileTruncatedToEmptyKeepsTheSetInForce(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("istio.yaml");
        Files.writeString(file, DENY_ALL);
        Heard heard = new Heard();
        BlockingQueue<PolicySet> reloaded = heard.reloaded;
        BlockingQueue<String> failed = heard.failed;
        BlockingQueue<String> lost = heard.lost;
        PolicyEngine e = PolicyEngine.builder().pollInterval(Duration.ofMillis(100)).reloadListener(heard).build();
        AccessRequest frontend = r().build();
        try (AutoCloseable watcher = e.watch(dir)) {
            assertThat(reloaded.poll(20, TimeUnit.SECONDS).size()).isEqualTo(1);
            assertThat(e.evaluate(frontend).allowed()).isFalse();
            Files.write(file, new byte[0]); // : > pol/istio.yaml
            assertThat(failed.poll(20, TimeUnit.SECONDS)).startsWith(file + ": no object in it");
            assertThat(e.evaluate(frontend).allowed()).as("the set in force stays").isFalse();
            assertThat(lost).isEmpty();
            Files.writeString(file, DENY_ALL);
            assertThat(reloaded.poll(20, TimeUnit.SECONDS).policies()).extracting(PolicyRef::name).containsExactly("deny-all");
            assertThat(lost).isEmpty();
            Files.delete(file);
            assertThat(lost.poll(20, TimeUnit.SECONDS)).contains("no longer loaded: istio.yaml (deleted or renamed");
            assertThat(e.evaluate(frontend).allowed()).as("a deleted file is a removal").isTrue();
        }
    }

    /**
     * A Kustomize directory: its kustomization.yaml sets the namespace of the policies beside it. Skipped with a
     * warning (a new-user pass), the DENY below went to "default" and prod was open to legacy/sa/old. kubectl
     * apply -f fails on the Kustomization object as well (no REST mapping); kubectl kustomize renders it.
     */
    @Test
    void aKustomizationIsRefusedNotSkipped(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("kustomization.yaml"), """
                apiVersion: kustomize.config.k8s.io/v1beta1
                kind: Kustomization
                namespace: prod
                resources: [deny-legacy.yaml]
                """);
        Files.writeString(dir.resolve("deny-legacy.yaml"), DENY_LEGACY.replace("namespace: prod", "namespace: default"));
        PolicyLoadException e = org.assertj.core.api.Assertions.catchThrowableOfType(PolicyLoadException.class,
                () -> PolicyLoader.fromDirectory(dir));
        assertThat(e).as("a kustomization is an error").isNotNull();
        assertThat(e.file()).isEqualTo(dir.resolve("kustomization.yaml").toString());
        assertThat(e.line()).isEqualTo(2);
        assertThat(e.getMessage()).contains("render the directory (kubectl kustomize DIR > policies.yaml)");
    }

    /** A reload listener that queues what it hears, for a test to wait on. */
    static final class Heard implements ReloadListener {
        final BlockingQueue<PolicySet> reloaded = new LinkedBlockingQueue<>();
        final BlockingQueue<String> lost = new LinkedBlockingQueue<>();
        final BlockingQueue<String> failed = new LinkedBlockingQueue<>();

        @Override
        public void reloaded(PolicySet policies) {
            reloaded.add(policies);
        }

        @Override
        public void lost(String warning) {
            lost.add(warning);
        }

        @Override
        public void failed(PolicyLoadException error) {
            failed.add(error.getMessage());
        }
    }
}
