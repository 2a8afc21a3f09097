package io.zerohop.hbone.interop;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Locates the independent peers. A missing peer fails the test (CI's {@code .ci/run} installs them),
 * with the package to install in the message: these tests are never skipped.
 */
final class Peers {
    private Peers() {}

    /** Closes what a test class started, in order, skipping what never started; the first failure is rethrown. */
    static void closeAll(AutoCloseable... started) throws Exception {
        Exception first = null;
        for (AutoCloseable c : started) {
            if (c == null) {
                continue;
            }
            try {
                c.close();
            } catch (Exception e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    /** The Node.js binary ({@code apt-get install nodejs}). */
    static Path node() {
        return onPath("node", "Node.js (`apt-get install nodejs`)");
    }

    /** The nghttpx binary ({@code apt-get install nghttp2-proxy}). */
    static Path nghttpx() {
        return onPath("nghttpx", "nghttpx (`apt-get install nghttp2-proxy`)");
    }

    /** A script of {@code mesh-hbone/src/test/node}. */
    static Path nodeScript(String name) {
        String basedir = System.getProperty("basedir", ".");
        for (Path candidate : List.of(Path.of(basedir, "src", "test", "node", name),
                Path.of("src", "test", "node", name), Path.of("mesh-hbone", "src", "test", "node", name))) {
            if (Files.isRegularFile(candidate)) {
                return candidate.toAbsolutePath();
            }
        }
        throw new AssertionError("interop script " + name + " not found under src/test/node (basedir " + basedir
                + ", working directory " + Path.of("").toAbsolutePath() + ")");
    }

    private static Path onPath(String binary, String what) {
        String path = System.getenv("PATH");
        if (path != null) {
            for (String dir : path.split(File.pathSeparator)) {
                if (dir.isEmpty()) {
                    continue;
                }
                Path p = Path.of(dir, binary);
                if (Files.isRegularFile(p) && Files.isExecutable(p)) {
                    return p;
                }
            }
        }
        throw new AssertionError("the HBONE interoperability tests need " + what + ", but `" + binary
                + "` is not on the PATH (" + path + "). Install it; CI's .ci/run does.");
    }
}
