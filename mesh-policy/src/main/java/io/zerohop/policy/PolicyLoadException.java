package io.zerohop.policy;

/**
 * Invalid policy input. The message reads {@code file:line: field: problem}, for example
 * {@code policies/foo.yaml:12: spec.rules[0].to[0].operation.ports[1]: bad port (70000)}.
 */
public final class PolicyLoadException extends Exception {

    private static final long serialVersionUID = 1L;

    private final String file;
    private final int line;
    private final String field;
    private final String problem;

    public PolicyLoadException(String file, int line, String field, String problem) {
        this(file, line, field, problem, null);
    }

    public PolicyLoadException(String file, int line, String field, String problem, Throwable cause) {
        super(format(file, line, field, problem), cause);
        this.file = file;
        this.line = line;
        this.field = field == null ? "" : field;
        this.problem = problem;
    }

    private static String format(String file, int line, String field, String problem) {
        StringBuilder sb = new StringBuilder().append(file);
        if (line > 0) {
            sb.append(':').append(line);
        }
        sb.append(": ");
        if (field != null && !field.isEmpty()) {
            sb.append(field).append(": ");
        }
        return sb.append(problem).toString();
    }

    public String file() {
        return file;
    }

    /** 1-based line, 0 when unknown. */
    public int line() {
        return line;
    }

    /** Dotted path of the offending field, e.g. {@code spec.rules[0].from[0].source.principals[1]}. */
    public String field() {
        return field;
    }

    public String problem() {
        return problem;
    }
}
