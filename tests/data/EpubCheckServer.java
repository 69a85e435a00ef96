import com.adobe.epubcheck.tool.EpubChecker;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;

/**
 * EPUBCheck for a whole test session in one JVM: each line on stdin names an EPUB, whose
 * JSON report is written beside it (PATH.epubcheck.json); "epubcheck-server: checked PATH"
 * on stdout says it is there. Paths on the command line are checked first, then the JVM reads stdin until it
 * closes (the test process ending, however it ends), and exits.
 */
public class EpubCheckServer {
    static void check(String path) {
        new EpubChecker().run(new String[] {path, "--json", path + ".epubcheck.json", "--quiet"});
    }

    public static void main(String[] paths) throws Exception {
        for (String path : paths) {
            check(path);
        }
        BufferedReader input = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = input.readLine()) != null) {
            try {
                check(line);
            } catch (RuntimeException error) {
                // No report: the test sees it missing and checks the file in a JVM of its own.
            }
            System.out.println("epubcheck-server: checked " + line);
            System.out.flush();
        }
    }
}
