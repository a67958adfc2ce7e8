using System.Diagnostics;

namespace Newsletter.Testing;

/// <summary>
/// Loads the machine on purpose: busy-looping processes, two per core, for as long as it lives. A guarantee
/// that holds only on an idle machine is a bug; tests that promise "exactly once" run beside this.
/// </summary>
public sealed class CpuBurner : IDisposable
{
    private readonly List<Process> _burners = [];

    public CpuBurner(int perCore = 2)
    {
        for (var i = 0; i < Environment.ProcessorCount * perCore; i++)
        {
            _burners.Add(Process.Start(new ProcessStartInfo("sh", ["-c", "while :; do :; done"]) { UseShellExecute = false })!);
        }
    }

    public void Dispose()
    {
        foreach (var burner in _burners)
        {
            try
            {
                burner.Kill();
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }

            burner.Dispose();
        }
    }
}
